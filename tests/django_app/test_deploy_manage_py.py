"""``lethe deploy`` emitting ``python manage.py lethe`` as the job's command."""

from __future__ import annotations

import pytest

from lethe.config.loader import load
from lethe.errors import ConfigError, DeployRefusedError
from tests.support.deploy import from_text

POLICY = """
[stores.default]
url = "django://default"
[datasets.customers]
table = "shop_customer"
key = "id"
age_column = "closed_at"
retain = "30d"
[policies.closed-accounts]
dataset = "customers"
[[policies.closed-accounts.actions]]
type = "purge"
[[jobs]]
name = "nightly"
schedule = "0 2 * * *"
policies = ["closed-accounts"]
[deploy]
command = ["python", "manage.py", "lethe"]
config = ""
"""


@pytest.mark.parametrize("target", ["crontab", "kubernetes", "systemd", "northflank"])
def test_an_empty_config_leaves_the_file_to_the_django_setting(target: str) -> None:
    artifacts, _ = from_text(POLICY, target)
    text = "\n".join(a.text for a in artifacts)
    assert "manage.py" in text and "lethe" in text and "tick" in text
    assert "--config" not in text


def test_with_a_config_the_command_still_passes_it() -> None:
    policy = POLICY.replace('config = ""', 'config = "/app/lethe.toml"')
    artifacts, _ = from_text(policy, "crontab")
    text = "\n".join(a.text for a in artifacts)
    assert 'python manage.py lethe --config /app/lethe.toml tick "$job"' in text


def test_a_compose_mount_needs_a_config_path() -> None:
    with pytest.raises(ConfigError, match="config_mount mounts the file at `config`"):
        load(POLICY + '[deploy.compose]\nconfig_mount = "./lethe.toml"\n')


def test_without_a_command_a_file_on_django_databases_is_refused() -> None:
    policy = POLICY[: POLICY.index("[deploy]")]
    with pytest.raises(DeployRefusedError, match=r"deploy.command: the file names Django"):
        from_text(policy, "crontab")
