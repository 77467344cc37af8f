"""The public surface is written down, and every registered kind documents itself."""

from __future__ import annotations

import textwrap

import pytest

import lethe
from lethe.actions import ACTIONS
from lethe.config.schema import json_schema
from lethe.notify import SENDERS
from lethe.stores.registry import STORES

BASE = """
[stores.app]
url = "sqlite:///app.db"
[datasets.d]
table = "t"
key = "id"
due_column = "due"
[policies.governance]
dataset = "d"
"""
SOFT_DELETE_FIRST = """
[[policies.governance.actions]]
type = "soft_delete"
"""


def test_the_exports_are_pinned() -> None:
    assert sorted(lethe.__all__) == [
        "AuditIntegrityError",
        "CheckReport",
        "ConfigError",
        "DeliveryError",
        "DeliveryRejectedError",
        "DeployRefusedError",
        "Duration",
        "ExitCode",
        "Explanation",
        "HealthReport",
        "Hold",
        "LeaseLostError",
        "Lethe",
        "LetheConfig",
        "LetheError",
        "LiveCheckError",
        "NotFoundError",
        "PhasePlan",
        "PhaseResult",
        "Plan",
        "PlanFileError",
        "RunResult",
        "RunStatus",
        "SafetyLimitError",
        "SenderAuthError",
        "SenderTLSError",
        "SenderUnreachableError",
        "Settings",
        "StopFlag",
        "StoreError",
        "__version__",
        "load",
        "load_file",
        "parse_duration",
    ]
    for name in lethe.__all__:
        assert getattr(lethe, name) is not None


def test_every_public_callable_has_a_docstring() -> None:
    for name in lethe.__all__:
        obj = getattr(lethe, name)
        if callable(obj):
            assert obj.__doc__, name
    for name in (
        "from_file",
        "from_toml",
        "from_config",
        "check",
        "grants",
        "plan",
        "run",
        "explain",
        "health",
        "runs",
        "run_record",
        "verify_audit",
        "notify_test",
        "read_plan",
        "write_plan",
    ):
        assert getattr(lethe.Lethe, name).__doc__, name


def _example(cls: type) -> str:
    doc = cls.__doc__ or ""
    block = doc.split("::", 1)[1]
    lines = [line for line in block.splitlines() if line.strip()]
    return textwrap.dedent("\n".join(lines))


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_every_action_has_a_docstring_a_schema_and_an_example_that_loads(name: str) -> None:
    cls = ACTIONS[name]
    assert cls.__doc__ and "::" in cls.__doc__, f"{name} needs a docstring with an example"
    assert cls.__name__ in json_schema()["$defs"]
    example = _example(cls)
    policy_name = example.split("[[policies.", 1)[1].split(".actions]]", 1)[0]
    # A grace period counts from a soft-delete phase, so purge's example follows one.
    text = BASE + (SOFT_DELETE_FIRST if "grace" in example else "")
    settings = lethe.load(text.replace("governance", policy_name) + example)
    assert settings.config.policies[policy_name].actions[-1].type == name


@pytest.mark.parametrize("name", sorted(SENDERS))
def test_every_sender_has_a_docstring_a_schema_and_an_example_that_loads(name: str) -> None:
    cls = SENDERS[name]
    assert cls.__doc__ and "::" in cls.__doc__, f"{name} needs a docstring with an example"
    assert cls.__name__ in json_schema()["$defs"]
    example = _example(cls).replace("${CHAT_WEBHOOK_URL}", "https://chat.example.org/hook/x")
    warn = '[[policies.governance.actions]]\ntype = "warn"\nbefore = ["7d"]\n'
    warn += 'recipient = { to = "dpo@example.org" }\n'
    settings = lethe.load(BASE + warn + example, env={})
    assert settings.config.policies["governance"].actions[0].sender.type == name  # type: ignore[attr-defined]


def test_every_store_scheme_is_served() -> None:
    assert {"sqlite", "postgresql", "file", "s3", "gs", "az", "redis", "rediss"} <= set(STORES)
    with pytest.raises(lethe.ConfigError, match="supported schemes"):
        from lethe.stores.registry import open_store

        open_store("x", "ftp://example.org/data")


def test_errors_form_one_tree_with_distinct_exit_codes() -> None:
    kinds = [
        lethe.ConfigError,
        lethe.LiveCheckError,
        lethe.SafetyLimitError,
        lethe.AuditIntegrityError,
        lethe.StoreError,
        lethe.PlanFileError,
        lethe.NotFoundError,
        lethe.SenderUnreachableError,
        lethe.SenderTLSError,
        lethe.SenderAuthError,
        lethe.DeliveryRejectedError,
    ]
    assert all(issubclass(kind, lethe.LetheError) for kind in kinds)
    assert {int(k.exit_code) for k in kinds} == {2, 3, 4, 5, 6, 8, 9, 10, 11}
    assert all(issubclass(k, lethe.DeliveryError) for k in kinds[-4:])


def test_the_testing_helpers_are_pinned_and_documented() -> None:
    import lethe.testing

    assert sorted(lethe.testing.__all__) == ["Clock", "ManualClock"]
    assert lethe.testing.__doc__ and "ManualClock" in lethe.testing.__doc__
    for name in lethe.testing.__all__:
        assert getattr(lethe.testing, name).__doc__, name
