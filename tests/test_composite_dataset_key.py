"""A dataset whose own table has a composite primary key (``key = ["org_id", "id"]``): planned,
dry-run, run, held (lethe's registry and the application's hold table), explained, audited and
verified, with children cascaded through the composite foreign key; keys read ``[org_id,id]``.
SQLite, PostgreSQL and MariaDB.

The ids repeat across organisations on purpose: a key that lost a column would touch the
wrong member's rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from lethe import Lethe
from lethe.cli.app import main
from lethe.model.keys import key_text
from lethe.testing import ManualClock
from tests.support.apps import NOW, engine_for, rows, schema_on
from tests.support.mail import Inbox
from tests.support.warnings import mail_env

SCHEMA = """
CREATE TABLE members (
    org_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    due_at {ts} NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    FOREIGN KEY (org_id, member_id) REFERENCES members (org_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_posts ON posts (org_id, member_id);
CREATE TABLE member_holds (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    released_at {ts} NULL
);
CREATE INDEX ix_member_holds ON member_holds (org_id, member_id);
INSERT INTO members VALUES (1, 1, '2000-01-01 00:00:00'), (1, 2, '2000-01-01 00:00:00'),
    (2, 1, '2000-01-01 00:00:00'), (2, 2, '2000-01-01 00:00:00'),
    (1, 3, '2999-01-01 00:00:00');
INSERT INTO posts VALUES (10, 1, 1), (11, 1, 2), (12, 2, 1), (13, 2, 2), (14, 2, 2), (15, 1, 3);
INSERT INTO member_holds VALUES (1, 1, 2, NULL), (2, 2, 2, '2001-01-01 00:00:00')
"""

POLICY = """
[state]
url = "sqlite:///{state}/state.db"

[stores.app]
url = "{url}"

[datasets.members]
table = "members"
key = ["org_id", "id"]
due_column = "due_at"
{extra}

[datasets.members.holds]
table = "member_holds"
columns = ["org_id", "member_id"]
released_column = "released_at"

[policies.erase]
dataset = "members"
actions = [{{ type = "purge" }}]
"""

ALL_MEMBERS = {(1, 1), (1, 2), (2, 1), (2, 2), (1, 3)}


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return schema_on(request.param, request, tmp_path, SCHEMA)


def _policy(url: str, tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "lethe.toml"
    path.write_text(POLICY.format(state=tmp_path, url=url, extra=extra))
    return path


def _lethe(policy: Path) -> Lethe:
    return Lethe.from_file(policy, clock=ManualClock(NOW))


def test_key_text_is_a_compact_json_array_read_back_whatever_the_values() -> None:
    assert key_text((3, 17)) == "[3,17]"
    assert key_text((3, 'a,"b"]')) == '[3,"a,\\"b\\"]"]'
    assert json.loads(key_text((3, 'a,"b"]'))) == [3, 'a,"b"]']
    assert key_text(17) == "17"  # one-column keys keep their plain text


def test_a_composite_key_dataset_is_planned_held_run_explained_and_audited(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = engine_for(url)
    policy = _policy(url, tmp_path)
    # Typed with a space; stored (and compared) as the canonical [2,1].
    assert main(["-c", str(policy), "hold", "add", "members", "[2, 1]", "-r", "audit"]) == 0
    assert "members [2,1]" in capsys.readouterr().out
    with _lethe(policy) as lethe:
        assert [h.item_key for h in lethe.holds.list("members")] == ["[2,1]"]
        plan = lethe.plan().phases[0]
        dry = lethe.run(dry_run=True).phases[0]
        assert rows(engine, "SELECT org_id, id FROM members") == ALL_MEMBERS
        before = lethe.explain("members", "[1,1]")
        held_by_table = lethe.explain("members", "[1, 2]")
        held_by_registry = lethe.explain("members", "[2,1]")
        result = lethe.run().phases[0]
        after = lethe.explain("members", "[2,2]")
        report = lethe.verify_audit()
    assert [key_text(k) for k in plan.keys] == ["[1,1]", "[2,2]"]
    assert sorted(key_text(k) for k in plan.held) == ["[1,2]", "[2,1]"]
    assert dict(plan.cascade) == dict(dry.cascade) == dict(result.cascade) == {"posts": 3}
    assert (dry.acted, result.acted) == (2, 2)
    assert rows(engine, "SELECT org_id, id FROM members") == {(1, 2), (2, 1), (1, 3)}
    assert rows(engine, "SELECT id FROM posts") == {(11,), (12,), (15,)}
    assert before.exists and before.key == "[1,1]" and not before.blocked
    assert before.verdicts[0].selected_now and before.verdicts[0].waits_for is None
    assert held_by_table.key == "[1,2]" and held_by_table.held_by_table
    assert [h.item_key for h in held_by_registry.registry_holds] == ["[2,1]"]
    assert not held_by_registry.held_by_table
    assert not after.exists
    [deleted] = after.history
    assert (deleted["event"], deleted["item_key"]) == ("hard_deleted", "[2,2]")
    assert deleted["details"]["cascade"] == {"posts": 2}
    assert report.ok, report


def test_a_plan_file_carries_composite_keys_to_the_run(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = engine_for(url)
    policy = _policy(url, tmp_path)
    plan_file = tmp_path / "plan.json"
    assert main(["-c", str(policy), "plan", "-v", "--out", str(plan_file)]) == 0
    assert "purge: [1,1], [2,1], [2,2]" in capsys.readouterr().out
    assert json.loads(plan_file.read_text())["phases"][0]["keys"] == ["[1,1]", "[2,1]", "[2,2]"]
    assert main(["-c", str(policy), "run", "--plan", str(plan_file)]) == 0
    assert rows(engine, "SELECT org_id, id FROM members") == {(1, 2), (1, 3)}


def test_the_cli_explains_a_composite_key_and_refuses_a_malformed_one(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _policy(url, tmp_path)
    assert main(["-c", str(policy), "explain", "members", "[1,3]", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["key"] == "[1,3]"
    for bad in ("17", "[1]", "[1,2,3]", '[1,"x"]', "[1,null]"):
        for command in (["explain", "members", bad], ["hold", "add", "members", bad, "-r", "x"]):
            assert main(["-c", str(policy), *command]) == 2, (command, bad)
            err = capsys.readouterr().err
            assert err.strip().count("\n") == 0 and "not a valid key for members" in err, err
    with _lethe(policy) as lethe:
        assert lethe.holds.list("members") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('key = ["org_id", "id"]', 'key = ["org_id", "nope"]'), "has no column 'nope'"),
        (('key = ["org_id", "id"]', 'key = ["id", "id"]'), "key names a column twice"),
        (('key = ["org_id", "id"]', "key = []"), "a table dataset needs key"),
        (('columns = ["org_id", "member_id"]', 'column = "member_id"'), "holds names 1 column"),
        (('columns = ["org_id", "member_id"]', 'columns = ["member_id"]'), "holds names 1 column"),
        (
            ("", 'cascade = [{ table = "posts", columns = ["member_id"] }]'),
            "posts.member_id has 1 column(s) but members's key org_id,id has 2",
        ),
        (
            (
                "",
                'cascade = [{ table = "posts", columns = ["org_id", "member_id"], '
                'references = ["id"] }]',
            ),
            "references names 1 of the 2 columns of members's key org_id,id",
        ),
    ],
)
def test_a_key_of_the_wrong_arity_is_one_line_exit_2_nothing_touched(
    url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: tuple[str, str],
    message: str,
) -> None:
    engine = engine_for(url)
    old, new = change
    policy = _policy(url, tmp_path, extra=new if not old else "")
    if old:
        policy.write_text(policy.read_text().replace(old, new))
    for command in (["check"], ["plan"], ["run"]):
        assert main(["-c", str(policy), *command]) == 2, command
        out, err = capsys.readouterr()
        assert message in out + err, out + err
        if command != ["check"]:
            assert err.strip().count("\n") == 0, err
    assert rows(engine, "SELECT org_id, id FROM members") == ALL_MEMBERS
    assert len(rows(engine, "SELECT id FROM posts")) == 6


def test_deletion_warnings_reach_each_member_by_its_whole_key(
    url: str, tmp_path: Path, inbox: Inbox
) -> None:
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE members ADD email VARCHAR(60)"))
        for org, member in ALL_MEMBERS:
            conn.execute(
                text("UPDATE members SET email = :e WHERE org_id = :o AND id = :i"),
                {"e": f"m{org}-{member}@x.org", "o": org, "i": member},
            )
    policy = (
        _policy(url, tmp_path)
        .read_text()
        .replace(
            'actions = [{ type = "purge" }]',
            'actions = [{ type = "warn", before = ["30d"], recipient = { column = "email" }, '
            'sender = { type = "smtp" } }]',
        )
    )
    with Lethe.from_toml(
        policy, base_dir=tmp_path, env=mail_env(inbox.port), clock=ManualClock(NOW)
    ) as lethe:
        result = lethe.run()
        warned = sorted(
            e["item_key"] for e in lethe.runtime.ledger.iter_events() if e["event"] == "warned"
        )
    assert result.ok, result.errors
    # [1,2] is held by the hold table; the others are overdue, [1,3] is not due for centuries.
    assert warned == ["[1,1]", "[2,1]", "[2,2]"]
    assert sorted(m["To"] for m in inbox.received()) == [
        "m1-1@x.org", "m2-1@x.org", "m2-2@x.org",
    ]  # fmt: skip
