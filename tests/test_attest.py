"""``lethe attest``: items due and unheld for longer than the tolerance are counted (exit 12),
none after a run; held items and items within the tolerance never are; the signed
attestation verifies offline and fails once edited."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert, text

from lethe import Lethe
from lethe.cli.app import main
from lethe.config.durations import parse_duration
from lethe.evidence import documents
from lethe.evidence.attest import KIND
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
def world(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, dict[str, str], str]:
    """A notes table: one due an hour ago, one three days ago, one five days ago under a
    hold, one due tomorrow; a nightly job (default tolerance: two days). With the policy
    and its environment, the application's URL."""
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
    return policy, env, url


def _due(url: str, key: int) -> datetime:
    """Note ``key``'s expires_at as the database stores it (aware, UTC)."""
    engine = engine_for(url)
    with engine.connect() as conn:
        value = conn.execute(text("SELECT expires_at FROM notes WHERE id = :k"), {"k": key})
        stored = value.scalar_one()
    engine.dispose()
    instant = stored if isinstance(stored, datetime) else datetime.fromisoformat(str(stored))
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def test_an_item_kept_past_its_tolerance_is_overdue_until_a_run(
    world: tuple[Path, dict[str, str], str],
) -> None:
    policy, env, _ = world
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
    world: tuple[Path, dict[str, str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy, env, _ = world
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


def test_overdue_items_are_named_and_the_oldest_dated_held_ones_never(
    world: tuple[Path, dict[str, str], str],
) -> None:
    policy, env, url = world
    with Lethe.from_file(policy, env=env) as lethe:
        [phase] = lethe.attest().phases
        assert phase.sample_keys == ("2",)
        # Note 3 is older but held: the oldest overdue item is note 2, due three days ago.
        assert phase.due_since is not None and phase.due_since.microsecond == 0
        assert timedelta(0) <= phase.due_since - _due(url, 2) < timedelta(seconds=1)
        [phase] = lethe.attest(tolerance=parse_duration("30m")).phases
        assert phase.sample_keys == ("1", "2")
        assert phase.due_since is not None and abs(phase.due_since - _due(url, 2)) <= timedelta(
            seconds=1
        )
        [quiet] = lethe.attest(tolerance=parse_duration("4d")).phases
        assert (quiet.overdue, quiet.sample_keys, quiet.due_since) == (0, (), None)
        [counted] = lethe.attest(tolerance=parse_duration("30m"), samples=0).phases
        assert (counted.overdue, counted.sample_keys, counted.due_since) == (2, (), None)


def test_samples_are_bounded_and_the_oldest_is_found_however_old(
    world: tuple[Path, dict[str, str], str],
) -> None:
    policy, env, url = world
    engine = engine_for(url)
    now = datetime.now(UTC)
    ages = {100 + n: timedelta(days=10 + n) for n in range(8)} | {999: timedelta(days=9000)}
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO notes (id, expires_at) VALUES (:id, :at)"),
            [{"id": k, "at": now - age} for k, age in ages.items()],
        )
    engine.dispose()
    with Lethe.from_file(policy, env=env) as lethe:
        report = lethe.attest()
        [phase] = report.phases
        assert phase.overdue == 10
        assert phase.sample_keys == ("2", "100", "101", "102", "103")  # key order, five
        assert phase.due_since is not None
        assert timedelta(0) <= phase.due_since - _due(url, 999) <= timedelta(seconds=1)
        body = report.body()["phases"][0]
        assert body["sample_keys"] == ["2", "100", "101", "102", "103"]
        assert body["oldest_due_since"] == phase.due_since.isoformat()
        assert [len(p.sample_keys) for p in lethe.attest(samples=2).phases] == [2]


def test_the_samples_are_in_the_table_the_json_and_the_signed_document(
    world: tuple[Path, dict[str, str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy, env, url = world
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["-c", str(policy), "attest", "--tolerance", "30m"]) == 12
    lines = capsys.readouterr().out.splitlines()
    assert "2 overdue" in lines[0]
    assert lines[1].strip().startswith("oldest due since ") and "before" in lines[1]
    assert lines[2].strip() == "e.g. 1, 2"
    out = tmp_path / "attestation.json"
    assert main(["-c", str(policy), "attest", "--out", str(out), "--json"]) == 12
    printed = json.loads(capsys.readouterr().out)["phases"][0]
    signed = json.loads(out.read_bytes())["body"]["phases"][0]
    assert printed == signed and signed["sample_keys"] == ["2"]
    due = datetime.fromisoformat(signed["oldest_due_since"])
    assert timedelta(0) <= due - _due(url, 2) <= timedelta(seconds=1)
    assert main(["evidence", "verify", str(out)]) == 0
    capsys.readouterr()
    # Re-issued by a forger with a key of their own: the body's own check refuses samples
    # that cannot be (more keys than items overdue, a date with nothing overdue).
    body = json.loads(out.read_bytes())["body"]
    for forge in (
        lambda b: b["phases"][0].update(sample_keys=["2", "3"]),
        lambda b: b["phases"][0].update(sample_keys=[2]),
        lambda b: b.update(overdue_total=0) or b["phases"][0].update(overdue=0, sample_keys=[]),
        lambda b: b["phases"][0].update(oldest_due_since="last week"),
    ):
        forged = json.loads(json.dumps(body))
        forge(forged)
        verdict = documents.verify_document(documents.issue(KIND, forged, None))
        assert not verdict.ok, forged


def test_an_object_store_names_its_overdue_objects_the_same_way(tmp_path: Path) -> None:
    """Files under a ``file://`` store (a listed store, judged in Python): kept a day past the
    24 hours they may live, the two unheld ones are named in key order and the older dated."""
    root = tmp_path / "objects"
    (root / "up").mkdir(parents=True)
    now = datetime.now(UTC)
    ages = {"up/b": 5, "up/a": 10, "up/c": 20, "up/new": 0}
    for name, days in ages.items():
        path = root / name
        path.write_text(name)
        stamp = (now - timedelta(days=days, hours=1)).timestamp()
        os.utime(path, (stamp, stamp))
    policy = (
        f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\nruns_dir = ""\n'
        f'[stores.s]\nurl = "file://{root}"\n'
        '[datasets.items]\nprefixes = ["up/"]\nretain = "24h"\n'
        '[policies.purge]\ndataset = "items"\n[[policies.purge.actions]]\ntype = "purge"\n'
    )
    with Lethe.from_toml(policy, base_dir=tmp_path, env={}) as lethe:
        lethe.holds.add("items", "up/c", "litigation", "dpo")
        [phase] = lethe.attest().phases  # no job: one day's tolerance
    assert (phase.overdue, phase.held, phase.sample_keys) == (2, 1, ("up/a", "up/b"))
    assert phase.due_since is not None
    expected = now - timedelta(days=10, hours=1) + timedelta(hours=24)
    assert abs(phase.due_since - expected) <= timedelta(seconds=1)


def test_a_paused_job_makes_an_item_overdue_once_past_its_tolerance_and_a_run_ends_it(
    tmp_path: Path,
) -> None:
    """The issue's case as it happens: a nightly job (tolerance two days) runs, is paused, and
    an item that fell due after its last run is overdue only once it has waited two days;
    resumed, the next run deletes it and nothing is overdue."""
    from lethe.engine.runtime import Runtime
    from lethe.evidence.attest import attest
    from lethe.jobs.claims import ClaimStatus
    from lethe.jobs.runner import JobService
    from lethe.schedule.clock import ManualClock
    from tests.support.jobs import items, make_items, remaining, settings_for

    app = f"sqlite:///{tmp_path / 'app.db'}"
    make_items(app, 3)
    # A job's run judges at the real time (JobService's clock schedules its slots only), so
    # the scheduler's clock starts now and only attest and the last run follow it forward.
    start = datetime.now(UTC).replace(microsecond=0)
    later = start + timedelta(hours=6, seconds=17)  # falls due after the night's run
    engine = engine_for(app)
    with engine.begin() as conn:
        conn.execute(insert(items), [{"id": 10, "due_at": later}])
    engine.dispose()
    clock = ManualClock(start)
    jobs = '[[jobs]]\nname = "nightly"\nschedule = "0 2 * * *"\npolicies = ["purge-items"]\n'
    service = JobService(settings_for(tmp_path, app, jobs), clock=clock)

    def overdue() -> tuple[int, tuple[str, ...], datetime | None]:
        runtime = Runtime(service.settings, clock)
        try:
            [phase] = attest(runtime, None, clock.now()).phases
        finally:
            runtime.close()
        assert str(phase.tolerance) == "2d"
        return phase.overdue, phase.sample_keys, phase.due_since

    assert service.fire("nightly", trigger="test")[0].status is ClaimStatus.STARTED
    assert remaining(app) == 1 and overdue() == (0, (), None)
    service.set_paused("nightly", True, "ops")
    for day in (1, 2):
        clock.advance(timedelta(days=1))
        assert service.fire("nightly", trigger="test")[0].status is ClaimStatus.SKIPPED
        assert overdue() == (0, (), None), f"day {day}: due for less than two days"
    clock.advance(timedelta(hours=7))  # due for two days and 47 minutes
    assert overdue() == (1, ("10",), later)
    service.set_paused("nightly", False, "ops")
    clock.advance(timedelta(days=1))
    assert service.fire("nightly", trigger="test")[0].status is ClaimStatus.STARTED
    with Lethe(service.settings, clock=clock) as lethe:  # the resumed job's run, at its slot
        assert lethe.run(["purge-items"]).ok
    assert remaining(app) == 0 and overdue() == (0, (), None)
