"""``lethe check``: the policy file against the live stores, and the grants it needs."""

from __future__ import annotations

from dataclasses import dataclass

from lethe.config.datasets import HoldTable
from lethe.config.jobs import job_warnings
from lethe.engine.runtime import Runtime
from lethe.errors import ConfigError, ExitCode, LetheError, StoreError
from lethe.model.conditions import columns_of
from lethe.stores.base import DatasetUse, Finding

__all__ = ["CheckReport", "check", "dataset_uses", "grants"]


@dataclass(frozen=True)
class CheckReport:
    """Findings of every stage; ``ok`` when none is an error."""

    findings: tuple[Finding, ...]
    #: A store (application or state database) could not be reached.
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == "warning")

    @property
    def exit_code(self) -> ExitCode:
        """What ``lethe check`` exits with: 5 when a store is unreachable (as ``plan`` and
        ``run`` do), 2 for any other error, else 0."""
        if self.unreachable:
            return ExitCode.STORE_UNAVAILABLE
        return ExitCode.OK if self.ok else ExitCode.INVALID


def check(rt: Runtime) -> CheckReport:
    """Check the state database, every dataset's live tables, and every policy's columns.

    Nothing is created or changed (not even lethe's own state database). Each problem is
    reported once: a policy whose dataset already failed is not bound again.
    """
    findings: list[Finding] = []
    failed: set[str] = set()
    unreachable = False
    try:
        findings.append(Finding("ok", "-", f"{rt.state.label}: {rt.state.status()}"))
    except LetheError as exc:
        findings.append(Finding("error", "-", str(exc)))
        unreachable = isinstance(exc, StoreError)
    problem = rt.runs.runs_dir_problem()
    if problem:
        findings.append(Finding("error", "-", f"{rt.settings.source}: state.runs_dir: {problem}"))
    for name, config in rt.config.datasets.items():
        assert config.store is not None
        try:
            findings.extend(rt.store(config.store).check(name, config))
        except LetheError as exc:
            findings.append(Finding("error", name, _where(rt, exc)))
            failed.add(name)
            unreachable |= isinstance(exc, StoreError)
    for policy, policy_config in rt.config.policies.items():
        links = {link.dataset for link in rt.config.datasets[policy_config.dataset].links}
        if failed & ({policy_config.dataset} | links):
            continue  # its dataset's error is already reported
        try:
            rt.target(policy)
        except LetheError as exc:
            findings.append(Finding("error", policy_config.dataset, str(exc)))
            unreachable |= isinstance(exc, StoreError)
    # Surprising schedules load (cron accepts them) but deserve the same warning that
    # `lethe scheduler`, `tick` and `serve` print when they start.
    findings.extend(
        Finding("warning", "-", warning)
        for warning in job_warnings(rt.config.jobs, rt.settings.source)
    )
    findings.extend(Finding(level, "-", message) for level, message in rt.probe_anchors())
    if not unreachable:
        findings.extend(_records_findings(rt, failed))
    return CheckReport(tuple(findings), unreachable)


def _records_findings(rt: Runtime, failed: set[str]) -> list[Finding]:
    """Records of processing: datasets without category, purpose or legal_basis (errors under
    ``[evidence] require_records``, else not reported), and tables of a SQL store no dataset
    covers (warnings; errors under ``require_records``).

    Covered: a dataset's table, its hold table, its cascade steps' tables, and every table
    whose foreign key reaches a covered table (a cascade child goes with its parent, which
    sets its retention). lethe's own ``lethe_*`` tables are not the application's data.
    """
    from lethe.evidence.records import missing_records
    from lethe.stores.sql import catalog
    from lethe.stores.sql.engine import translate_errors
    from lethe.stores.sql.store import SQLStore

    required = rt.config.evidence.require_records
    level = "error" if required else "warning"
    findings: list[Finding] = []
    if required:
        for name, fields in missing_records(rt.config).items():
            findings.append(
                Finding(
                    "error",
                    name,
                    f"{rt.settings.source}: datasets.{name}: no {', '.join(fields)} "
                    "(evidence.require_records = true)",
                )
            )
    stores = {
        ds.store
        for name, ds in rt.config.datasets.items()
        if ds.kind == "table" and name not in failed
    }
    for store_name in sorted(s for s in stores if s):
        store = rt.store(store_name)
        if not isinstance(store, SQLStore):
            continue
        covered: dict[str | None, set[str]] = {}
        for ds in rt.config.datasets.values():
            if ds.store != store_name or ds.table is None:
                continue
            names = covered.setdefault(ds.db_schema, set())
            names.add(ds.table)
            if isinstance(ds.holds, HoldTable):
                names.add(ds.holds.table)
            if isinstance(ds.cascade, list):
                names.update(step.table for step in ds.cascade)
        for schema, names in sorted(covered.items(), key=lambda kv: kv[0] or ""):
            tables = store.table_names(schema)
            with translate_errors(store.label), store.engine.connect() as conn:
                found = catalog.links(conn, schema)
            names = catalog.referencing(found, names)  # children of covered tables, too
            for table in sorted(tables - names):
                if table.startswith(("lethe_", "sqlite_")):
                    continue
                where = f"{schema}.{table}" if schema else table
                findings.append(
                    Finding(
                        level,
                        "-",
                        f"store {store_name}: table {where} is covered by no dataset "
                        "(records of processing: add a dataset, or say why it is kept)",
                    )
                )
    return findings


def _where(rt: Runtime, exc: LetheError) -> str:
    """The error's message, naming the policy file and the key when the error names a key."""
    return str(rt.located(exc)) if isinstance(exc, ConfigError) else str(exc)


def dataset_uses(rt: Runtime) -> dict[str, list[DatasetUse]]:
    """Per store: how the policies use each dataset (columns read and written, deletes).

    The run-record prefix of ``state.records`` is a use without a dataset config.
    """
    per_dataset: dict[str, DatasetUse] = {}
    for name in rt.config.policies:
        target = rt.target(name)
        config = target.dataset_config
        reads: set[str] = set()
        writes: set[str] = set()
        related: dict[str, set[str]] = {}
        deletes = False
        for index, action in enumerate(target.actions):
            reads |= columns_of(target.selection(index, target.context_probe())) | action.reads()
            writes |= action.writes()
            deletes |= action.cascades
            for table, columns in action.reads_related().items():
                related[table] = related.get(table, set()) | columns
        for links in target.links if deletes else ():  # a purge deletes the linked items
            use = per_dataset.get(links.name)
            per_dataset[links.name] = DatasetUse(
                links.name,
                rt.config.datasets[links.name],
                use.reads if use else set(),
                use.writes if use else set(),
                True,
            )
        previous = per_dataset.get(target.dataset)
        if previous is not None:
            reads |= previous.reads
            writes |= previous.writes
            deletes |= previous.deletes
            for table, columns in previous.related.items():
                related[table] = related.get(table, set()) | columns
        per_dataset[target.dataset] = DatasetUse(
            target.dataset, config, reads, writes, deletes, related
        )
    by_store: dict[str, list[DatasetUse]] = {}
    for use in per_dataset.values():
        by_store.setdefault(str(use.config.store), []).append(use)
    records = rt.config.state.records
    if records is not None:  # run records are written under this prefix of that store
        use = DatasetUse("<run records>", None, set(), {records.prefix}, False)
        by_store.setdefault(records.store, []).append(use)
    return by_store


def grants(rt: Runtime, role: str) -> dict[str, list[str]]:
    """Least-privilege statements per store for running every policy as ``role``."""
    return {store: rt.store(store).grants(uses, role) for store, uses in dataset_uses(rt).items()}
