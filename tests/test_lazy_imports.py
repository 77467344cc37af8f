"""What the CLI loads: ``import lethe.cli.app``, and a plain ``lethe run`` and ``lethe plan``,
never import the libraries only some commands or policies need (the HTTP client of webhooks,
the notice templates' Jinja2, the signing key's cryptography, Alembic when the state schema is
already current). Each is tens of milliseconds of start-up and megabytes of every run's peak
memory (docs/benchmarks.md, "The CLI's imports and peak memory").

These are behaviour tests: they read ``sys.modules`` in a fresh interpreter, never a clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from lethe.state import db

#: Imported only by what uses them: webhook senders and anchors (httpx), warn phases' templates
#: (Jinja2), signing keys and signature checks (cryptography), migrations (Alembic, and the
#: Mako and Pygments it brings).
DEFERRED = ("httpx", "jinja2", "cryptography", "alembic", "mako", "pygments")

_LOADED = (
    "import sys, json\n"
    "def loaded():\n"
    "    return sorted({n.split('.')[0] for n in sys.modules} & set(json.loads(sys.argv[1])))\n"
)


def _run(code: str, *args: str, cwd: Path | None = None) -> list[str]:
    """The deferred modules ``code`` left imported (it prints ``loaded()`` last)."""
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _LOADED + code, json.dumps(DEFERRED), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_imports_none_of_the_deferred_libraries() -> None:
    assert _run("import lethe.cli.app\nprint(json.dumps(loaded()))") == []


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """A purge of the files older than a day: two of four."""
    tree = tmp_path / "tree" / "uploads"
    tree.mkdir(parents=True)
    old = time.time() - 3 * 86400
    for n in range(4):
        path = tree / f"f{n}.bin"
        path.write_bytes(b"x")
        if n % 2 == 0:
            os.utime(path, (old, old))
    path = tmp_path / "lethe.toml"
    path.write_text(
        f"""
[state]
url = "sqlite:///{tmp_path}/state.db"
[stores.s]
url = "file://{tmp_path / "tree"}"
[datasets.items]
prefixes = ["uploads/"]
retain = "24h"
[policies.purge]
dataset = "items"
[[policies.purge.actions]]
type = "purge"
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("command", [["run"], ["plan"]])
def test_a_plain_run_and_plan_import_none_of_the_deferred_libraries(
    policy: Path, command: list[str]
) -> None:
    code = (
        "from lethe.cli.app import main\n"
        "code = main(['-c', sys.argv[2], *sys.argv[3:]])\n"
        "assert code == 0, code\n"
        "print(json.dumps(loaded()))\n"
    )
    # The first command creates the state tables (Alembic); the next finds them current.
    migrated = _run(code, str(policy), "plan", cwd=policy.parent)
    assert "alembic" in migrated
    assert _run(code, str(policy), *command, cwd=policy.parent) == []
    if command == ["run"]:
        assert sorted(p.name for p in (policy.parent / "tree" / "uploads").iterdir()) == [
            "f1.bin",
            "f3.bin",
        ]


def test_a_webhook_sender_and_anchor_load_without_httpx() -> None:
    code = (
        "from lethe.notify.webhook import Webhook, WebhookSender\n"
        "from lethe.evidence.anchors.webhook import WebhookAnchorConfig\n"
        "WebhookSender(Webhook(url='https://example.org/hook'))\n"
        "print(json.dumps(loaded()))\n"
    )
    assert _run(code) == []


def test_the_head_revision_read_from_the_file_names_is_alembics() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(db._MIGRATIONS))
    assert db.head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_a_state_database_is_migrated_once_then_found_current(tmp_path: Path) -> None:
    state = db.StateDB(f"sqlite:///{tmp_path}/state.db")
    assert state.status().startswith("not created yet")
    state.migrate()
    assert state.status() == "reachable, schema up to date"
    with state.engine.begin() as conn:
        conn.execute(text("UPDATE lethe_alembic_version SET version_num = '0007'"))
    head = db.head_revision()
    assert state.status() == f"reachable; schema at 0007, migrated to {head} by the next run"
    with state.engine.begin() as conn:
        conn.execute(text("DELETE FROM lethe_alembic_version"))
    assert state.status() == "reachable; lethe's tables are created by the first run"
    state.engine.dispose()
