"""``lethe plan --against OLD``: a retention change previewed item by item, checked against
what two real runs (one under each file, on copies of the same data) then do."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from lethe import Lethe
from lethe.testing import ManualClock
from tests.support.apps import NOW, example_policy, seeded
from tests.support.cli import run_cli

_POLICY = """
[stores.app]
url = "sqlite:///{db}"

[datasets.items]
table = "items"
key = "id"
age_column = "created_at"
retain = "{retain}d"

[policies.cleanup]
dataset = "items"

[[policies.cleanup.actions]]
type = "soft_delete"
column = "deleted_at"

[[policies.cleanup.actions]]
type = "purge"
grace = "{grace}d"

[state]
url = "sqlite:///{state}"
runs_dir = ""
"""


def _policy(db: Path, state: Path, retain: int, grace: int) -> str:
    return _POLICY.format(db=db, state=state, retain=retain, grace=grace)


def _make(db: Path, ages: list[int], soft: list[int | None]) -> None:
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE items (id INTEGER PRIMARY KEY, created_at TIMESTAMP, "
                "deleted_at TIMESTAMP)"
            )
        )
        for i, (age, gone) in enumerate(zip(ages, soft, strict=True), start=1):
            deleted = None if gone is None else (NOW - timedelta(days=gone)).isoformat(" ")
            conn.execute(
                text("INSERT INTO items VALUES (:i, :c, :d)"),
                {"i": i, "c": (NOW - timedelta(days=age)).isoformat(" "), "d": deleted},
            )
    engine.dispose()


def _rows(db: Path) -> dict[str, bool]:
    """Each remaining row's key and whether it is soft-deleted."""
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        found = {
            str(i): d is not None for i, d in conn.execute(text("SELECT id, deleted_at FROM items"))
        }
    engine.dispose()
    return found


def _run(
    tmp: Path, name: str, db: Path, retain: int, grace: int, at: datetime, held: list[int]
) -> dict[str, bool]:
    """A real run under one file on a copy of ``db``: the rows it leaves."""
    copy, state = tmp / f"{name}.db", tmp / f"{name}-state.db"
    shutil.copy(db, copy)
    with Lethe.from_toml(_policy(copy, state, retain, grace), clock=ManualClock(at)) as lethe:
        for key in held:
            lethe.holds.add("items", str(key), reason="test", placed_by="test")
        lethe.run(as_of=at)
    return _rows(copy)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 120), st.one_of(st.none(), st.integers(0, 60))),
        min_size=1,
        max_size=25,
    ),
    old=st.tuples(st.integers(1, 90), st.integers(1, 30)),
    new=st.tuples(st.integers(1, 90), st.integers(1, 30)),
    held=st.sets(st.integers(1, 25), max_size=4),
    day=st.integers(0, 10),
)
def test_the_preview_is_what_two_real_runs_then_do(
    tmp_path_factory, data, old, new, held, day
) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("against")
    db, state = tmp / "app.db", tmp / "state.db"
    _make(db, [a for a, _ in data], [s for _, s in data])
    held_keys = sorted(k for k in held if k <= len(data))
    (tmp / "old.toml").write_text(_policy(db, state, *old))
    with Lethe.from_toml(_policy(db, state, *new), clock=ManualClock(NOW)) as lethe:
        for key in held_keys:
            lethe.holds.add("items", str(key), reason="test", placed_by="test")
        preview = lethe.preview_change(str(tmp / "old.toml"), as_of=NOW, days=day, samples=1000)
    (items,) = preview.datasets
    at = NOW + timedelta(days=day)
    moment = items.moments[day]
    assert moment.as_of == at
    before = _rows(db)
    after_old = _run(tmp, "old", db, *old, at, held_keys)
    after_new = _run(tmp, "new", db, *new, at, held_keys)

    def changed(after: dict[str, bool]) -> set[str]:
        """Keys the run touched: gone, or soft-deleted now."""
        return {k for k, soft in before.items() if k not in after or after[k] != soft}

    touched_old, touched_new = changed(after_old), changed(after_new)
    samples = {kind: {c.key for c in changes} for kind, changes in moment.samples.items()}
    assert samples["becomes_due"] == touched_new - touched_old
    assert samples["no_longer_due"] == touched_old - touched_new
    # Touched under both, but one run purged what the other only soft-deleted (or kept soft).
    moved = {k for k in touched_old & touched_new if (k in after_old) != (k in after_new)}
    assert moved <= samples["changes_phase"]
    assert moment.counts == {kind: len(keys) for kind, keys in samples.items()}
    # Nothing is ever shown for a held item.
    assert not {str(k) for k in held_keys} & set().union(*samples.values())


def _progress_policy(retain: str) -> str:
    text_ = example_policy("checktick")
    return text_.replace('retain = "30d"', f'retain = "{retain}"')


@pytest.fixture
def checktick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CheckTick example seeded, its policy committed to git with 30 days for progress."""
    url = f"sqlite:///{tmp_path / 'checktick.db'}"
    seeded("checktick", url)
    (tmp_path / "lethe.toml").write_text(_progress_policy("30d"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    for argv in (["init", "-q"], ["add", "lethe.toml"], ["commit", "-qm", "30 days"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *argv], check=True
        )
    return tmp_path


def _ids(db: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        found = {str(i) for (i,) in conn.execute(text("SELECT id FROM surveys_surveyprogress"))}
    engine.dispose()
    return found


def _progress(document: dict, day: int = 0) -> dict:  # type: ignore[type-arg]
    ds = next(d for d in document["datasets"] if d["dataset"] == "survey-progress")
    return ds["moments"][day]  # type: ignore[no-any-return]


def test_a_git_revision_of_the_file_is_compared_and_matches_real_runs(
    checktick: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    (checktick / "lethe.toml").write_text(_progress_policy("3d"))
    as_of = ["--as-of", NOW.isoformat()]
    code, out, err = run_cli(capsys, "plan", "--against", "HEAD", "--days", "3", "--json", *as_of)
    assert code == 0, err
    document = json.loads(out)
    assert document["old"] == "HEAD:lethe.toml"
    now = _progress(document)
    shortened = {s["key"] for s in now["samples"]["becomes_due"]}
    assert now["counts"]["becomes_due"] == len(shortened) > 0
    assert now["counts"]["no_longer_due"] == 0

    # The two real runs: the progress rows the 3-day file deletes beyond the 30-day one's.
    progress = _ids(checktick / "checktick.db")
    gone = {}
    for name, retain in (("old", "30d"), ("new", "3d")):
        shutil.copy(checktick / "checktick.db", checktick / f"{name}.db")
        env = {"DATABASE_URL": f"sqlite:///{checktick / f'{name}.db'}"}
        policy = _progress_policy(retain).replace(".lethe/", f".lethe-{name}/")
        with Lethe.from_toml(policy, base_dir=checktick, env=env, clock=ManualClock(NOW)) as lethe:
            lethe.run(["progress-cleanup"], as_of=NOW)
        gone[name] = progress - _ids(checktick / f"{name}.db")
    assert gone["new"] - gone["old"] == shortened

    # Text: the dataset, the counts, a sample key and where it goes.
    code, out, _ = run_cli(capsys, "plan", "--against", "HEAD", "--days", "0", *as_of)
    assert code == 0
    assert "survey-progress" in out and "becomes due" in out
    assert f"{sorted(shortened)[0]} (no phase → progress-cleanup[0] purge)" in out


def test_an_unchanged_file_changes_nothing(checktick: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(capsys, "plan", "--against", "HEAD", "--days", "2")
    assert code == 0
    assert "No item is judged differently." in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--against", "no-such-rev"],
            "--against: 'no-such-rev' is neither a file nor a git revision holding ./lethe.toml",
        ),
        (
            ["--against", "HEAD:missing.toml"],
            "--against: 'HEAD:missing.toml' is neither a file nor a git revision holding "
            "missing.toml",
        ),
        (["--against", "--help-me"], "is neither a file nor a git revision"),
        (["--against", "HEAD", "--days", "400"], "--days: must be between 0 and 366"),
        (["--against", "HEAD", "--days", "-1"], "--days: must be between 0 and 366"),
        (["--against", "HEAD", "--out", "plan.json"], "--against: writes no plan file"),
        (["--against", "HEAD", "progress-cleanup"], "--against: compares every enabled policy"),
        (["--against", "."], "--against: . is not a file"),
    ],
)
def test_bad_against_input_is_one_line_exit_2(
    checktick: Path, capsys, argv: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli(capsys, "plan", *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (checktick / "plan.json").exists()


def test_an_invalid_old_file_is_named_with_its_key(checktick: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (checktick / "old.toml").write_text(_progress_policy("3 fortnights"))
    code, _, err = run_cli(capsys, "plan", "--against", "old.toml")
    assert code == 2
    assert "old.toml: datasets.survey-progress.retain" in err


def test_a_dataset_only_the_new_file_has_becomes_due_there(tmp_path: Path) -> None:
    db, state = tmp_path / "app.db", tmp_path / "state.db"
    _make(db, [100, 10, 50], [None, None, None])
    new = _policy(db, state, 30, 5)
    old = new.split("[datasets.items]")[0] + f'[state]\nurl = "sqlite:///{state}"\nruns_dir = ""\n'
    (tmp_path / "old.toml").write_text(old)
    with Lethe.from_toml(new, clock=ManualClock(NOW)) as lethe:
        preview = lethe.preview_change(str(tmp_path / "old.toml"), as_of=NOW, days=0)
    (items,) = preview.datasets
    assert items.old_policies == () and items.new_policies == ("cleanup",)
    assert {c.key for c in items.moments[0].samples["becomes_due"]} == {"1", "3"}


def test_every_day_is_judged_at_its_own_instant(tmp_path: Path) -> None:
    db, state = tmp_path / "app.db", tmp_path / "state.db"
    _make(db, [25, 28], [None, None])  # due under 30 days in 5 and 2 days, under 20 days now
    (tmp_path / "old.toml").write_text(_policy(db, state, 30, 5))
    with Lethe.from_toml(_policy(db, state, 20, 5), clock=ManualClock(NOW)) as lethe:
        preview = lethe.preview_change(str(tmp_path / "old.toml"), as_of=NOW, days=6)
    counts = [m.counts["becomes_due"] for m in preview.datasets[0].moments]
    assert counts == [2, 2, 1, 1, 1, 0, 0]
    assert preview.datasets[0].moments[3].as_of == NOW + timedelta(days=3)
    assert preview.as_of.tzinfo is not None and preview.as_of == NOW.astimezone(UTC)
