"""``lethe attest``: items due and unheld for longer than the tolerance are counted (exit 12),
none after a run; held items and items within the tolerance never are; the signed
attestation verifies offline and fails once edited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert

from lethe import Lethe
from lethe.cli.app import main
from lethe.config.durations import parse_duration
from lethe.evidence.signing import generate_key_pem
from tests.support.apps import engine_for

POLICY = """
[stores.app]
url = "{url}"
[state]
url = "{state}"
runs_dir = ""
[limits.breaker]
enabled = false
[evidence]
organisation = "Example Ltd"
signing_key_env = "LETHE_TEST_SIGNING_KEY"
[datasets.notes]
table = "notes"
key = "id"
due_column = "expires_at"
[policies.expire]
dataset = "notes"
[[policies.expire.actions]]
type = "purge"
[[jobs]]
name = "nightly"
schedule = "0 3 * * *"
policies = ["expire"]
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A notes table: one due an hour ago, one three days ago, one five days ago under a
    hold, one due tomorrow; a nightly job (default tolerance: two days)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    engine = engine_for(url)
    notes = Table(
        "notes", MetaData(), Column("id", Integer, primary_key=True),
        Column("expires_at", DateTime(timezone=True)),
    )  # fmt: skip
    notes.metadata.create_all(engine)
    now = datetime.now(UTC)
    day = timedelta(days=1)
    ages = {1: timedelta(hours=1), 2: 3 * day, 3: 5 * day, 4: -day}
    with engine.begin() as conn:
        conn.execute(insert(notes), [{"id": k, "expires_at": now - age} for k, age in ages.items()])
    policy = tmp_path / "lethe.toml"
    policy.write_text(POLICY.format(url=url, state=f"sqlite:///{tmp_path / 'state.db'}"))
    env = {"LETHE_TEST_SIGNING_KEY": generate_key_pem()}
    with Lethe.from_file(policy, env=env) as lethe:
        lethe.place_hold("notes", "3", "litigation", "dpo")
    return policy, env


def test_an_item_kept_past_its_tolerance_is_overdue_until_a_run(
    world: tuple[Path, dict[str, str]],
) -> None:
    policy, env = world
    with Lethe.from_file(policy, env=env) as lethe:
        # The nightly job did not run for three days (paused): note 2 is overdue, note 1 is
        # due but within two days, note 3 is held.
        report = lethe.attest()
        [phase] = report.phases
        assert (phase.overdue, phase.held, str(phase.tolerance)) == (1, 1, "2d")
        assert not report.ok
        assert lethe.attest(tolerance=parse_duration("4d")).ok
        assert lethe.attest(tolerance=parse_duration("30m")).overdue == 2
        assert lethe.run().ok
        after = lethe.attest(tolerance=parse_duration("0s"))
        assert after.ok and after.phases[0].held == 1


def test_the_command_exits_12_and_writes_a_signed_attestation(
    world: tuple[Path, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy, env = world
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "attestation.json"
    assert main(["-c", str(policy), "attest", "--out", str(out), "--json"]) == 12
    body = json.loads(capsys.readouterr().out)
    assert body["overdue_total"] == 1 and body["phases"][0]["dataset"] == "notes"
    assert main(["evidence", "verify", str(out)]) == 0
    assert "lethe.attestation verifies, signed by key" in capsys.readouterr().out
    out.write_bytes(out.read_bytes().replace(b'"overdue_total":1', b'"overdue_total":0'))
    assert main(["evidence", "verify", str(out)]) == 4
    assert main(["-c", str(policy), "attest", "--tolerance", "3 fortnights"]) == 2
    assert "--tolerance" in capsys.readouterr().err
    assert main(["-c", str(policy), "run", "--no-dry-run"]) == 0
    assert main(["-c", str(policy), "attest"]) == 0
