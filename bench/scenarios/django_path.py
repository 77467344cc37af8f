"""The Django path against the plain SQL path: one PostgreSQL database, the therapy schema
declared as Django models (``bench.djangoapp``, ``on_delete=CASCADE``), purged by lethe through
``model = "djangoapp.Profile"`` (table, key and cascade from ``_meta``) and through the table
dataset with its cascade listed, and by Django's own ``QuerySet.delete()``."""

from __future__ import annotations

from pathlib import Path

from bench import therapy
from bench.harness import Measurement, interleave, measured
from bench.scenarios.sql import Context, _check_same, _measure, _pg_db, _pg_template, _sql

CONTENDERS = ["lethe", "lethe SQL path", "django QuerySet.delete"]

POLICY = """
[state]
url = "sqlite:///{state}/state.db"
runs_dir = ""

[stores.app]
url = "django://default"

[datasets.profiles]
model = "djangoapp.Profile"
due_column = "deletion_scheduled_at"
where = [{{ column = "deleted_at", is_null = true }}]

[policies.account-deletion]
dataset = "profiles"
[[policies.account-deletion.actions]]
type = "purge"
"""


def _argv(name: str, url: str, state: Path) -> list[str]:
    policy = state / "lethe.toml"
    if name == "lethe":
        policy.write_text(POLICY.format(state=state))
        return measured("bench.contenders.django_lethe", url, str(policy))
    if name == "lethe SQL path":
        policy.write_text(therapy.policy(url, str(state)))
        return measured("bench.contenders.lethe_run", str(policy))
    return []  # a baseline of sql._contender_argv


def django_cascade(ctx: Context) -> list[Measurement]:
    """1M profiles (× scale), 10 % due, five child tables: "lethe" is the Django path."""
    scenario = "django cascade purge (postgresql)"
    profiles = ctx.size(1_000_000, 2000)
    template = "bench_tpl_django"
    due = _pg_template(ctx, template, profiles, "scattered")
    print(f"\n== {scenario}: {profiles:,} profiles, {due:,} due", flush=True)
    outcomes: dict[str, dict[str, tuple[int, int]]] = {}

    def once(name: str, rep: int) -> Measurement:
        db = f"bench_django_{rep}_{CONTENDERS.index(name)}"
        _sql(ctx, f"DROP DATABASE IF EXISTS {db}")
        _sql(ctx, f"CREATE DATABASE {db} TEMPLATE {template}")
        try:
            m, after = _measure(ctx, scenario, name, rep, _pg_db(ctx, db), argv=_argv)
            outcomes[name] = after
            return m
        finally:
            _sql(ctx, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    results = interleave(CONTENDERS, ctx.reps, once)
    _check_same(ctx, scenario, outcomes)
    _sql(ctx, f"DROP DATABASE IF EXISTS {template}")
    return results
