"""SQL scenarios: PostgreSQL and SQLite cascade purges against their baselines, scale, plan
cost, and the unindexed-foreign-key check."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import therapy
from bench.harness import (
    COLOCATED,
    Measurement,
    TransactionSampler,
    interleave,
    measured,
    run_child,
    wal_lsn,
)

BATCH = 1000  # the hand-written baseline's batch, lethe's default


@dataclass
class Context:
    """What every scenario gets: sizes, repetitions, servers, a scratch directory."""

    scale: float
    reps: int
    pg_admin: str
    scratch: Path
    failures: list[str] = field(default_factory=list)
    #: A smoke run (CI): every scenario once, at a tenth of the smallest measured sizes.
    smoke: bool = False

    def size(self, full: int, floor: int = 200) -> int:
        if self.smoke:
            return max(20, floor // 10)
        return max(floor, int(full * self.scale))


def _pg_db(ctx: Context, name: str) -> str:
    return make_url(ctx.pg_admin).set(database=name).render_as_string(hide_password=False)


def _sql(ctx: Context, statement: str) -> None:
    engine = create_engine(ctx.pg_admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(statement))
    engine.dispose()


def _fingerprint(url: str) -> dict[str, tuple[int, int]]:
    engine = create_engine(url)
    try:
        return therapy.fingerprint(engine)
    finally:
        engine.dispose()


def _pg_template(ctx: Context, name: str, profiles: int, layout: str) -> int:
    _sql(ctx, f"DROP DATABASE IF EXISTS {name}")
    _sql(ctx, f"CREATE DATABASE {name}")
    engine = create_engine(_pg_db(ctx, name))
    due = therapy.populate(engine, profiles, layout)
    engine.dispose()
    return due


NO_BREAKER = "[limits.breaker]\nenabled = false\n"


def _contender_argv(name: str, url: str, state: Path, subset: int, limits: str = "") -> list[str]:
    if name in ("lethe", COLOCATED):
        policy = state / "lethe.toml"
        policy.write_text(therapy.policy(url, str(state), limits, colocated=name == COLOCATED))
        return measured("bench.contenders.lethe_run", str(policy))
    if name == "lethe plan":
        policy = state / "lethe.toml"
        policy.write_text(therapy.policy(url, str(state)))
        return measured("bench.contenders.lethe_run", str(policy), "plan")
    if name == "keyset batches":
        return measured("bench.contenders.keyset", url, str(BATCH))
    if name == "single DELETE":
        return measured("bench.contenders.single", url)
    if name == "django QuerySet.delete":
        return measured("bench.contenders.django_delete", url, "queryset")
    if name == "django obj.delete loop":
        return measured("bench.contenders.django_delete", url, "loop", str(subset))
    raise ValueError(name)


def _measure(
    ctx: Context,
    scenario: str,
    name: str,
    rep: int,
    url: str,
    subset: int = 0,
    limits: str = "",
    argv: Callable[[str, str, Path], list[str]] | None = None,
) -> tuple[Measurement, dict[str, tuple[int, int]]]:
    """Run one contender on a fresh copy at ``url``; on PostgreSQL also sample its longest
    transaction and the WAL it wrote. ``argv(name, url, state)`` builds a scenario's own
    contenders' command lines (by default the ones of :func:`_contender_argv`)."""
    before = _fingerprint(url)
    state = Path(tempfile.mkdtemp(dir=ctx.scratch))
    postgres = url.startswith("postgresql")
    command = (argv(name, url, state) if argv else None) or _contender_argv(
        name, url, state, subset, limits
    )
    if name == COLOCATED:
        # lethe's tables are created in the application's database before the probe starts:
        # a scheduled job finds them there, and their DDL is not the contender's transaction.
        run_child([*command, "migrate"])
    lsn = wal_lsn(ctx.pg_admin) if postgres else None
    probe = TransactionSampler(ctx.pg_admin, str(make_url(url).database)) if postgres else None
    with probe or nullcontext():
        _, rss, out = run_child(command)
    wal = wal_lsn(ctx.pg_admin) - lsn if lsn is not None else None
    after = _fingerprint(url)
    if name == COLOCATED:
        _check_colocated(ctx, scenario, url)
    shutil.rmtree(state, ignore_errors=True)
    longest = probe.longest if probe else None
    work = json.loads(out.strip().splitlines()[-1])
    measurement = Measurement(
        scenario, name, rep, work["seconds"], therapy.removed(before, after), rss, longest, wal
    )
    measurement.longest_write_tx_s = probe.longest_write if probe else None
    return measurement, after


def _check_colocated(ctx: Context, scenario: str, url: str) -> None:
    """The colocated variant measures what it claims only if its batches took the shared path:
    its audit in the application's database, and no batch intent written (the separate path
    writes one per batch; the shared one only for batches that name files, which none does)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            events = conn.execute(
                text("SELECT count(*) FROM lethe_events WHERE event = 'hard_deleted'")
            ).scalar_one()
            intents = conn.execute(text("SELECT count(*) FROM lethe_batches")).scalar_one()
    finally:
        engine.dispose()
    if not events or intents:
        ctx.failures.append(
            f"{scenario}: {COLOCATED} wrote {events} events and {intents} batch intents in the "
            "application's database (expected its events there and no intent)"
        )


def _check_same(
    ctx: Context, scenario: str, outcomes: dict[str, dict[str, tuple[int, int]]]
) -> None:
    reference = outcomes.get("lethe")
    for name, outcome in outcomes.items():
        if outcome != reference:
            ctx.failures.append(f"{scenario}: {name} left different rows than lethe")


def pg_cascade(ctx: Context, layout: str) -> list[Measurement]:
    """1M profiles (× scale), 10 % due, five child tables: lethe (its state in SQLite, and in the
    application's database) against its baselines."""
    scenario = f"postgresql cascade purge ({layout})"
    profiles = ctx.size(1_000_000, 2000)
    template = f"bench_tpl_{layout}"
    due = _pg_template(ctx, template, profiles, layout)
    print(f"\n== {scenario}: {profiles:,} profiles, {due:,} due", flush=True)
    outcomes: dict[str, dict[str, tuple[int, int]]] = {}

    def once(name: str, rep: int) -> Measurement:
        db = f"bench_run_{rep}_{abs(hash(name)) % 10**6}"
        _sql(ctx, f"DROP DATABASE IF EXISTS {db}")
        _sql(ctx, f"CREATE DATABASE {db} TEMPLATE {template}")
        try:
            subset = max(20, due // 100)
            m, after = _measure(ctx, scenario, name, rep, _pg_db(ctx, db), subset)
            if name != "django obj.delete loop":
                outcomes[name] = after
            return m
        finally:
            _sql(ctx, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    contenders = [
        "lethe",
        COLOCATED,
        "keyset batches",
        "single DELETE",
        "django QuerySet.delete",
        "django obj.delete loop",
    ]
    if ctx.smoke and layout != "scattered":
        # The layout changes the timing, not the outcome: the scattered smoke runs them all.
        contenders = ["lethe", "keyset batches"]
    results = interleave(contenders, ctx.reps, once)
    _check_same(ctx, scenario, outcomes)
    _sql(ctx, f"DROP DATABASE IF EXISTS {template}")
    return results


def sqlite_cascade(ctx: Context) -> list[Measurement]:
    """100k profiles (× scale), 10 % due, WAL mode: lethe (its state in a file of its own, and in
    the application's file) against hand-written batches."""
    scenario = "sqlite cascade purge (WAL)"
    profiles = ctx.size(100_000, 1000)
    template = ctx.scratch / "template.db"
    engine = create_engine(f"sqlite:///{template}")
    due = therapy.populate(engine, profiles, "scattered")
    engine.dispose()
    with sqlite3.connect(template) as db:
        db.execute("PRAGMA journal_mode=WAL")
    print(f"\n== {scenario}: {profiles:,} profiles, {due:,} due", flush=True)
    outcomes: dict[str, dict[str, tuple[int, int]]] = {}

    def once(name: str, rep: int) -> Measurement:
        copy = ctx.scratch / f"run-{rep}.db"
        shutil.copy(template, copy)
        try:
            m, after = _measure(ctx, scenario, name, rep, f"sqlite:///{copy}")
            outcomes[name] = after
            return m
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{copy}{suffix}").unlink(missing_ok=True)

    contenders = ["lethe", COLOCATED, "keyset batches", "single DELETE"]
    results = interleave(contenders, ctx.reps, once)
    _check_same(ctx, scenario, outcomes)
    return results


def scale(ctx: Context) -> list[Measurement]:
    """lethe at 10k, 100k and 1M due parents (× scale): time should be linear, memory flat."""
    results: list[Measurement] = []
    for full in (10_000,) if ctx.smoke else (10_000, 100_000, 1_000_000):
        profiles = ctx.size(full, 100)
        scenario = f"scale: {profiles:,} due parents"
        template = "bench_tpl_scale"
        _pg_template(ctx, template, profiles, "all")
        print(f"\n== {scenario}", flush=True)

        def once(
            name: str,
            rep: int,
            template: str = template,
            scenario: str = scenario,
            profiles: int = profiles,
        ) -> Measurement:
            db = f"bench_scale_{rep}"
            _sql(ctx, f"DROP DATABASE IF EXISTS {db}")
            _sql(ctx, f"CREATE DATABASE {db} TEMPLATE {template}")
            try:
                # Every profile is due: the default circuit breaker rightly refuses to empty
                # the tables, and a user purging such a backlog lifts it for that run.
                m, _ = _measure(ctx, scenario, name, rep, _pg_db(ctx, db), limits=NO_BREAKER)
                m.extra["parents"] = profiles
                return m
            finally:
                _sql(ctx, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

        results.extend(interleave(["lethe"], ctx.reps, once))
        _sql(ctx, f"DROP DATABASE IF EXISTS {template}")
    return results


def plan_cost(ctx: Context) -> list[Measurement]:
    """`lethe plan` against the data a run then deletes: the plan as a fraction of the run."""
    scenario = "plan cost"
    profiles = ctx.size(1_000_000, 2000)
    template = "bench_tpl_plan"
    _pg_template(ctx, template, profiles, "scattered")
    print(f"\n== {scenario}: {profiles:,} profiles", flush=True)

    def once(name: str, rep: int) -> Measurement:
        db = f"bench_plan_{rep}"
        _sql(ctx, f"DROP DATABASE IF EXISTS {db}")
        _sql(ctx, f"CREATE DATABASE {db} TEMPLATE {template}")
        try:
            m, _ = _measure(ctx, scenario, name, rep, _pg_db(ctx, db))
            return m
        finally:
            _sql(ctx, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    results = interleave(["lethe plan", "lethe"], ctx.reps, once)
    _sql(ctx, f"DROP DATABASE IF EXISTS {template}")
    return results


def unindexed_fk(ctx: Context) -> list[Measurement]:
    """Correctness, not timing: with an unindexed cascade column, check and plan must warn with
    the CREATE INDEX to run, before anything is deleted."""
    print("\n== unindexed foreign key", flush=True)
    db = "bench_unindexed"
    _pg_template(ctx, db, 500, "scattered")
    url = _pg_db(ctx, db)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_check_ins_user_id"))
    engine.dispose()
    before = _fingerprint(url)
    state = Path(tempfile.mkdtemp(dir=ctx.scratch))
    (state / "lethe.toml").write_text(therapy.policy(url, str(state)))
    fix = "CREATE INDEX CONCURRENTLY ix_check_ins_user_id ON check_ins (user_id);"
    for command in (["check"], ["plan"]):
        out = subprocess.run(
            [sys.executable, "-m", "lethe", "-c", str(state / "lethe.toml"), *command],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        flat = " ".join(out.split())
        if "check_ins.user_id has no index" not in flat or fix not in flat:
            ctx.failures.append(f"unindexed FK: `lethe {command[0]}` did not warn:\n{out}")
        else:
            print(f"  lethe {command[0]}: warns and prints `{fix}`")
    if _fingerprint(url) != before:
        ctx.failures.append("unindexed FK: something was deleted by check/plan")
    _sql(ctx, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    return []
