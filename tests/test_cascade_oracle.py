"""Lethe's cascades against an oracle of the SQL standard's rules, on random data.

The oracle is written here in plain Python from issue 13's design, row by row: an item's
deletion set is its row plus everything reached through edges treated ``cascade``; the item is
blocked when a row outside that set references a row inside it through an edge treated
``block``; rows outside every deleted set of a batch that reference one through a ``set_null`` /
``set_default`` edge are updated. Batches go in ascending key order, each judged as a whole
before its deletes (a server's final pass over skipped rows is one more pass in key order).

The oracle is itself checked against the truest oracle there is: the database deleting one
account with plain SQL under the schema's declared rules (``test_oracle_agrees_with_*``).
Then lethe must leave exactly the rows the oracle leaves, block exactly the accounts it blocks,
and report the counts a before/after diff of the database finds.

On MariaDB the oracle is given the rules the server keeps (:func:`rs.declared`): ``RESTRICT``
is ``NO ACTION`` there (``no_action = "cascade"`` cascades both), a deferrable ``NO ACTION`` is
immediate, and InnoDB drops ``SET DEFAULT`` silently, so that key blocks.
"""

from __future__ import annotations

import copy
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from lethe import Lethe, RunResult
from lethe.engine.planning import estimate, removed_rows
from lethe.testing import ManualClock
from tests.support import rules_schema as rs

Key = tuple[Any, ...]
State = dict[str, dict[Key, dict[str, Any]]]
Row = tuple[str, Key]

#: Policy variants: the lines they add to ``[datasets.accounts]`` and the treatments they give.
VARIANTS: dict[str, tuple[str, Mapping[str, str]]] = {
    "auto": ("", {}),
    "no_action": ('no_action = "cascade"', {}),
    "overrides": (
        'on_delete = { "orders.account_id" = "cascade", "teams.lead_member_id" = "cascade", '
        '"accounts.referred_by" = "block", "milestones.account_id,number" = "cascade" }',
        {
            "orders.account_id": "cascade",
            "teams.lead_member_id": "cascade",
            "accounts.referred_by": "block",
            "milestones.account_id,number": "cascade",
        },
    ),
}
_BY_RULE = {
    "CASCADE": "cascade",
    "SET NULL": "set_null",
    "SET DEFAULT": "set_default",
    "RESTRICT": "block",
    "NO ACTION": "block",
    "NO ACTION DEFERRABLE": "block",
}


def treatments(variant: str, dialect: str = "") -> dict[rs.Edge, str]:
    """Each edge's treatment under a policy variant, on ``dialect`` (the rules it keeps: see
    :func:`rs.declared`)."""
    _, overrides = VARIANTS[variant]
    out = {}
    for edge in rs.EDGES:
        rule = rs.declared(edge.rule, dialect)
        treat = _BY_RULE[rule]
        if variant == "no_action" and rule.startswith("NO ACTION"):
            treat = "cascade"
        out[edge] = overrides.get(edge.name, treat)
    return out


# -- the oracle --------------------------------------------------------------------------------


def state_of(snapshot: rs.Snapshot) -> State:
    """A snapshot as mutable rows."""
    return {t: {k: dict(row) for k, row in rows.items()} for t, rows in snapshot.items()}


def _referencing(state: State, edge: rs.Edge, parent: Key) -> Iterable[Key]:
    """Keys of ``edge.child`` rows whose columns equal the parent row's referenced columns."""
    parent_row = state[edge.parent].get(parent)
    if parent_row is None:
        return
    wanted = tuple(parent_row[c] for c in edge.parent_columns)
    for key, row in state[edge.child].items():
        if tuple(row[c] for c in edge.columns) == wanted:
            yield key


def deletion_set(state: State, root: Key, treat: Mapping[rs.Edge, str]) -> set[Row]:
    """The root account and every row reached from it through ``cascade`` edges."""
    found: set[Row] = {("accounts", root)}
    todo = [("accounts", root)]
    while todo:
        table, key = todo.pop()
        for edge, how in treat.items():
            if edge.parent == table and how == "cascade":
                for child in _referencing(state, edge, key):
                    if (edge.child, child) not in found:
                        found.add((edge.child, child))
                        todo.append((edge.child, child))
    return found


def blocker(state: State, doomed: set[Row], treat: Mapping[rs.Edge, str]) -> Row | None:
    """A row outside ``doomed`` referencing one inside it through a ``block`` edge."""
    for table, key in sorted(doomed, key=repr):
        for edge, how in treat.items():
            if edge.parent == table and how == "block":
                for child in _referencing(state, edge, key):
                    if (edge.child, child) not in doomed:
                        return edge.child, child
    return None


@dataclass
class Outcome:
    """What the oracle says a run does."""

    blocked: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    #: The table of a row that blocked an item, per blocked item.
    by: dict[int, str] = field(default_factory=dict)
    #: Rows set null or default, per table, counted per committed batch (a row updated in one
    #: batch and deleted in a later one was still updated; a diff of the run nets it out).
    updated: dict[str, int] = field(default_factory=dict)


def apply_batch(
    state: State, items: Sequence[int], treat: Mapping[rs.Edge, str], skip: Set[int] = frozenset()
) -> Outcome:
    """One batch: judge every item against ``state``, then update and delete (in place).
    ``failed`` lists the items the trigger refuses: the database then refuses the whole batch
    and the caller must discard ``state``. ``skip``: items not acted on (already refused)."""
    outcome = Outcome()
    doomed: set[Row] = set()
    for item in items:
        if (item,) not in state["accounts"]:
            continue
        mine = deletion_set(state, (item,), treat)
        stop = blocker(state, mine, treat)
        if stop is not None:
            outcome.blocked.add(item)
            outcome.by[item] = stop[0]
        elif item in skip:
            continue
        elif any(r["account_id"] == item for r in state["ledger"].values()):
            outcome.failed.add(item)  # the trigger refuses it
        else:
            doomed |= mine
    for item in sorted(outcome.blocked):
        if ("accounts", (item,)) in doomed:  # another item's deletion takes it: not blocked
            outcome.blocked.discard(item)
            del outcome.by[item]
    changed: set[Row] = set()
    for edge, how in treat.items():
        if how not in ("set_null", "set_default"):
            continue
        for table, key in doomed:
            if table != edge.parent:
                continue
            for child in list(_referencing(state, edge, key)):
                if (edge.child, child) not in doomed:
                    changed.add((edge.child, child))
                    for column in edge.columns:
                        state[edge.child][child][column] = (
                            None if how == "set_null" else rs.DEFAULTS[(edge.child, column)]
                        )
    for table, key in doomed:
        del state[table][key]
    for table, _key in changed:
        outcome.updated[table] = outcome.updated.get(table, 0) + 1
    return outcome


def _attempt(
    state: State, keys: Sequence[int], held: Set[int], treat: Mapping[rs.Edge, str], run: Outcome
) -> bool:
    """One transaction over ``keys``: committed into ``state`` (True) or refused (False)."""
    trial = copy.deepcopy(state)
    due = [k for k in keys if (k,) in trial["accounts"] and _due(trial["accounts"][(k,)])]
    got = apply_batch(trial, [k for k in due if k not in held], treat, run.failed)
    if got.failed:
        return False
    state.clear()
    state.update(trial)
    run.blocked |= got.blocked
    for table, rows in got.updated.items():
        run.updated[table] = run.updated.get(table, 0) + rows
    return True


def _batch(
    state: State, keys: Sequence[int], held: Set[int], treat: Mapping[rs.Edge, str], run: Outcome
) -> None:
    """A batch, bisected as lethe does when the database refuses it (depth-first, left half
    first) until each refused item stands alone."""
    if _attempt(state, keys, held, treat, run):
        return
    stack: list[tuple[bool, Sequence[int]]] = [(True, keys)]
    while stack:
        refused, part = stack.pop()
        if not refused:
            if not _attempt(state, part, held, treat, run):
                stack.append((True, part))
        elif len(part) == 1:
            run.failed.add(part[0])
        else:
            middle = len(part) // 2
            stack += [(False, part[middle:]), (False, part[:middle])]


def apply_run(
    state: State,
    held: Set[int],
    batch: int,
    treat: Mapping[rs.Edge, str],
    passes: int,
) -> Outcome:
    """A run: due accounts in ascending key order, in batches of ``batch`` (held accounts take
    their place in a batch and are skipped), ``passes`` times over what is left (a server's
    final pass from the lowest key); an item refused once is not tried again in the run."""
    run = Outcome()
    for _ in range(passes):
        due = sorted(k[0] for k, row in state["accounts"].items() if _due(row))
        for start in range(0, len(due), batch):
            _batch(state, due[start : start + batch], held, treat, run)
    return run


def _due(row: Mapping[str, Any]) -> bool:
    return row["due_at"] is not None and row["due_at"] <= rs.AS_OF


# -- random data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    rows: dict[str, list[dict[str, Any]]]
    held: frozenset[int]
    batch: int
    variant: str


@st.composite
def scenarios(draw: st.DrawFn, *, ledger: bool = False) -> Scenario:
    """Accounts 1..n (some due, some held) and a few rows in every other table."""
    n = draw(st.integers(1, 6))
    ids = list(range(1, n + 1))
    account = st.sampled_from([0, *ids, *ids])  # account 0 is never due
    when = st.sampled_from([None, rs.AS_OF + timedelta(days=1), rs.AS_OF, rs.AS_OF - timedelta(1)])
    rows: dict[str, list[dict[str, Any]]] = {"accounts": []}
    for i in ids:
        due_at = draw(when)
        referred_by = draw(st.sampled_from([None, *ids]))
        rows["accounts"].append({"id": i, "due_at": due_at, "referred_by": referred_by})

    def table(name: str, fields: Any, most: int) -> list[dict[str, Any]]:
        drawn = draw(st.lists(fields, max_size=most))
        rows[name] = [{"id": j, **f} for j, f in enumerate(drawn, start=1)]
        return rows[name]

    posts = table("posts", st.fixed_dictionaries({"account_id": account}), 4)
    folders: list[dict[str, Any]] = []
    depth: dict[int, int] = {}
    for j in range(1, draw(st.integers(0, 5)) + 1):
        parents = [f["id"] for f in folders if depth[f["id"]] < 3]
        parent = draw(st.sampled_from([None, *parents]))
        depth[j] = 1 if parent is None else depth[parent] + 1
        folders.append({"id": j, "account_id": draw(account), "parent_id": parent})
    rows["folders"] = folders
    folder = st.sampled_from([None, *(f["id"] for f in folders)])
    post = st.sampled_from([None, *(p["id"] for p in posts)])
    nullable = st.sampled_from([None, 0, *ids])
    table("sessions", st.fixed_dictionaries({"account_id": nullable, "folder_id": folder}), 3)
    table("tickets", st.fixed_dictionaries({"assignee_id": account}), 3)
    table("invoices", st.fixed_dictionaries({"account_id": account}), 2)
    table("orders", st.fixed_dictionaries({"account_id": account, "post_id": post}), 3)
    table("notes", st.fixed_dictionaries({"account_id": account}), 2)
    pair = st.fixed_dictionaries({"referrer_id": account, "referred_id": account})
    table("referrals", pair, 3)
    teams = table("teams", st.fixed_dictionaries({"account_id": account}), 3)
    if teams:
        members = table("members", st.fixed_dictionaries({"team_id": st.sampled_from(teams)}), 4)
        for m in members:
            m["team_id"] = m["team_id"]["id"]
        for t in teams:
            t["lead_member_id"] = draw(st.sampled_from([None, *(m["id"] for m in members)]))
    numbers = draw(st.sets(st.tuples(account, st.integers(1, 2)), max_size=3))
    rows["projects"] = [{"account_id": a, "number": b} for a, b in sorted(numbers)]
    if numbers:
        project = st.sampled_from(sorted(numbers)).map(
            lambda p: {"account_id": p[0], "number": p[1]}
        )
        table("tasks", project, 3)
        table("milestones", project, 1)
    if ledger:
        table("ledger", st.fixed_dictionaries({"account_id": account}), 1)
    held = draw(st.frozensets(st.sampled_from(ids), max_size=2))
    batch = draw(st.sampled_from([1, 2, 3, 1000]))
    return Scenario(rows, held, batch, draw(st.sampled_from(sorted(VARIANTS))))


# -- the oracle against the database ------------------------------------------------------------


def _agrees_with_database(url: str, scenario: Scenario, root: int) -> None:
    """Delete one account with plain SQL: the database's own rules must do what the oracle
    (with the declared rules as treatments) predicts, refusal included."""
    with rs.schema_at(url, scenario.rows):
        before = state_of(rs.snapshot(url))
        expected = state_of(rs.snapshot(url))
        outcome = apply_batch(expected, [root], treatments("auto", _dialect(url)))
        try:
            with rs.engine(url).begin() as conn:
                conn.execute(text("DELETE FROM accounts WHERE id = :id"), {"id": root})
            refused = False
        except DBAPIError:
            refused = True
        after = state_of(rs.snapshot(url))
    event(f"blocked by {outcome.by[root]}" if outcome.by else "failed" if outcome.failed else "ok")
    assert refused == bool(outcome.blocked or outcome.failed), (root, outcome)
    assert after == (before if refused else expected)


_db_settings = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_db_settings
@given(scenario=scenarios(ledger=True), root=st.integers(1, 3))
def test_oracle_agrees_with_sqlite(tmp_path: Path, scenario: Scenario, root: int) -> None:
    _agrees_with_database(f"sqlite:///{tmp_path / 'app.db'}", scenario, root)


@settings(_db_settings, max_examples=25)
@given(scenario=scenarios(ledger=True), root=st.integers(1, 3))
def test_oracle_agrees_with_postgresql(pg_url: str, scenario: Scenario, root: int) -> None:
    _agrees_with_database(pg_url, scenario, root)


@settings(_db_settings, max_examples=25)
@given(scenario=scenarios(ledger=True), root=st.integers(1, 3))
def test_oracle_agrees_with_mariadb(mariadb_url: str, scenario: Scenario, root: int) -> None:
    _agrees_with_database(mariadb_url, scenario, root)


# -- lethe against the oracle ----------------------------------------------------------------------


def diff_counts(before: State, after: State) -> tuple[dict[str, int], dict[str, int]]:
    """Rows that left each table, and rows still there but changed, per table."""
    deleted = {t: len(rows.keys() - after[t].keys()) for t, rows in before.items()}
    updated = {
        t: sum(1 for k, row in rows.items() if k in after[t] and after[t][k] != row)
        for t, rows in before.items()
    }
    return {t: n for t, n in deleted.items() if n}, {t: n for t, n in updated.items() if n}


def reported_counts(result: RunResult) -> tuple[dict[str, int], dict[str, int]]:
    """Rows lethe says it deleted and updated, per table."""
    deleted: dict[str, int] = {}
    updated: dict[str, int] = {}
    for phase in result.phases:
        for table, rows in [(phase.table, phase.acted), *phase.cascade.items()]:
            deleted[table] = deleted.get(table, 0) + rows
        for table, rows in getattr(phase, "updated", {}).items():
            updated[table] = updated.get(table, 0) + rows
    return {t: n for t, n in deleted.items() if n}, {t: n for t, n in updated.items() if n}


def _events(lethe: Lethe, run_id: str, name: str) -> set[int]:
    return {
        int(e["item_key"])
        for e in lethe.runtime.ledger.iter_events(run_id=run_id)
        if e["event"] == name
    }


def _dialect(url: str) -> str:
    return rs.engine(url).dialect.name


@contextmanager
def _lethe_on(url: str, scenario: Scenario, policy: str) -> Iterator[Lethe]:
    """lethe with ``policy`` on the scenario's rows, its held accounts on hold."""
    with (
        rs.schema_at(url, scenario.rows),
        tempfile.TemporaryDirectory() as state_dir,
        Lethe.from_toml(
            policy, base_dir=Path(state_dir), env={}, clock=ManualClock(rs.AS_OF)
        ) as lethe,
    ):
        for key in sorted(scenario.held):
            lethe.holds.add("accounts", str(key), "oracle test", "hypothesis")
        yield lethe


def _matches_oracle(url: str, scenario: Scenario) -> None:
    """Two runs of lethe do what the oracle says, and say what the database shows."""
    line, _ = VARIANTS[scenario.variant]
    treat = treatments(scenario.variant, _dialect(url))
    policy = rs.policy(url, batch=scenario.batch, dataset_extra=line)
    passes = 1 if url.startswith("sqlite") else 2  # SKIP LOCKED: a final pass
    with _lethe_on(url, scenario, policy) as lethe:
        for attempt in (1, 2):
            before = state_of(rs.snapshot(url))
            expected = copy.deepcopy(before)
            run = apply_run(expected, scenario.held, scenario.batch, treat, passes)
            result = lethe.run(as_of=rs.AS_OF)
            after = state_of(rs.snapshot(url))
            where = f"run {attempt}"
            for table in rs.ORDER:
                assert after[table] == expected[table], f"{where}: {table} differs"
            assert _events(lethe, result.run_id, "skipped_blocked") == run.blocked, where
            assert _events(lethe, result.run_id, "skipped_error") == run.failed, where
            deleted, updated = reported_counts(result)
            assert deleted == diff_counts(before, after)[0], where
            assert updated == run.updated, where
            event(f"blocked {bool(run.blocked)}, failed {bool(run.failed)}")


_run_settings = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_run_settings
@given(scenario=scenarios())
def test_lethe_matches_the_oracle_on_sqlite(tmp_path: Path, scenario: Scenario) -> None:
    _matches_oracle(f"sqlite:///{tmp_path / 'app.db'}", scenario)


@settings(_run_settings, max_examples=12)
@given(scenario=scenarios())
def test_lethe_matches_the_oracle_on_postgresql(pg_url: str, scenario: Scenario) -> None:
    _matches_oracle(pg_url, scenario)


@settings(_run_settings, max_examples=15)
@given(scenario=scenarios(ledger=True))
def test_refused_accounts_are_isolated_on_sqlite(tmp_path: Path, scenario: Scenario) -> None:
    _matches_oracle(f"sqlite:///{tmp_path / 'app.db'}", scenario)


@settings(_run_settings, max_examples=8)
@given(scenario=scenarios(ledger=True))
def test_refused_accounts_are_isolated_on_postgresql(pg_url: str, scenario: Scenario) -> None:
    _matches_oracle(pg_url, scenario)


@settings(_run_settings, max_examples=12)
@given(scenario=scenarios())
def test_lethe_matches_the_oracle_on_mariadb(mariadb_url: str, scenario: Scenario) -> None:
    _matches_oracle(mariadb_url, scenario)


@settings(_run_settings, max_examples=8)
@given(scenario=scenarios(ledger=True))
def test_refused_accounts_are_isolated_on_mariadb(mariadb_url: str, scenario: Scenario) -> None:
    _matches_oracle(mariadb_url, scenario)


# -- the breaker's counts against the oracle ----------------------------------------------------

#: Variants whose cascade edges form no cycle between tables (the breaker counts those in SQL),
#: and one cascading the accounts' own self-reference (``referred_by``).
COUNTED = {v: VARIANTS[v] for v in ("auto", "no_action")}
COUNTED["referral_tree"] = (
    'on_delete = { "accounts.referred_by" = "cascade" }',
    {"accounts.referred_by": "cascade"},
)


def _counts_match_oracle(url: str, scenario: Scenario, variant: str, cap: int | None) -> None:
    """The breaker's estimate of a run is every row the cascade edges reach from the first
    ``cap`` due, unheld accounts (blocked ones included: an upper bound), per table."""
    line, overrides = COUNTED[variant]
    treat = treatments(variant if variant in VARIANTS else "auto", _dialect(url))
    treat.update({e: overrides[e.name] for e in rs.EDGES if e.name in overrides})
    policy = rs.policy(url, dataset_extra=line)
    if cap is not None:
        policy = policy.replace("[limits]\n", f"[limits]\nmax_deletions = {cap}\n")
    with _lethe_on(url, scenario, policy) as lethe:
        state = state_of(rs.snapshot(url))
        due = sorted(
            k for k, row in state["accounts"].items() if _due(row) and k[0] not in scenario.held
        )
        reached: set[Row] = set()
        for root in due[:cap]:
            reached |= deletion_set(state, root, treat)
        expected = Counter(table for table, _ in reached)
        (target,) = lethe.runtime.targets()
        counted = removed_rows(estimate(lethe.runtime, target, rs.AS_OF))
        assert {t: n for t, n in counted.items() if n} == dict(expected)
        event(f"{len(due[:cap])} roots, {len(reached)} rows")


_count_settings = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_counted_variant = st.sampled_from(sorted(COUNTED))
_cap = st.sampled_from([None, None, 1, 2])


@_count_settings
@given(scenario=scenarios(), variant=_counted_variant, cap=_cap)
def test_breaker_counts_match_the_oracle_on_sqlite(
    tmp_path: Path, scenario: Scenario, variant: str, cap: int | None
) -> None:
    _counts_match_oracle(f"sqlite:///{tmp_path / 'app.db'}", scenario, variant, cap)


@settings(_count_settings, max_examples=25)
@given(scenario=scenarios(), variant=_counted_variant, cap=_cap)
def test_breaker_counts_match_the_oracle_on_postgresql(
    pg_url: str, scenario: Scenario, variant: str, cap: int | None
) -> None:
    _counts_match_oracle(pg_url, scenario, variant, cap)


@settings(_count_settings, max_examples=15)
@given(scenario=scenarios(), variant=_counted_variant, cap=_cap)
def test_breaker_counts_match_the_oracle_on_mariadb(
    mariadb_url: str, scenario: Scenario, variant: str, cap: int | None
) -> None:
    _counts_match_oracle(mariadb_url, scenario, variant, cap)
