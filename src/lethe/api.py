"""The Python API: everything the CLI does, for applications that embed lethe.

>>> from lethe import Lethe
>>> with Lethe.from_file("lethe.toml") as lethe:          # doctest: +SKIP
...     result = lethe.run(["account-deletion"])
...     print(result.run_id, result.counts(), result.errors)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from lethe.config.checks import cross_check
from lethe.config.durations import Duration
from lethe.config.loader import Settings, load, load_file
from lethe.config.model import LetheConfig
from lethe.config.previous import load_previous
from lethe.engine import check as checking
from lethe.engine.approval import plan_changes
from lethe.engine.collector import run_objects_only
from lethe.engine.executor import ProgressFn
from lethe.engine.explain import Explanation, explain
from lethe.engine.health import HealthReport, health
from lethe.engine.orphans import OrphanReport, orphans
from lethe.engine.planning import plan as make_plan
from lethe.engine.preview import Preview, preview
from lethe.engine.run import breaker_reasons, execute_run
from lethe.engine.runtime import Runtime, Target
from lethe.engine.stop import StopFlag
from lethe.errors import ApprovalStateError, ConfigError, PlanChangedError, PlanFileError
from lethe.evidence.attest import SAMPLE_KEYS, Attestation, attest
from lethe.holds.registry import PREFIX_MARK, Hold, HoldRegistry
from lethe.model.keys import key_text
from lethe.model.plan import Plan
from lethe.model.results import RunResult
from lethe.notify.probe import TestDelivery, pick_sender, send_test, senders_of
from lethe.schedule.clock import Clock
from lethe.state.approvals import Approval, ApprovalStatus
from lethe.state.batches import new_id
from lethe.state.ledger import VerifyReport
from lethe.stores.base import Finding

__all__ = ["Lethe"]


#: The instants lethe evaluates policies at: a policy's durations (up to 1,000 years) and
#: ``lethe explain``'s look-ahead must stay inside the calendar around them.
EARLIEST_AS_OF = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_AS_OF = datetime(3000, 1, 1, tzinfo=UTC)
#: ``lethe plan --against``'s look-ahead: each day is one read of every phase under both files.
MAX_PREVIEW_DAYS = 366


def _aware(as_of: datetime | None) -> datetime | None:
    """``as_of`` checked before anything starts: timezone-aware and within the range above."""
    if as_of is None:
        return None
    if as_of.tzinfo is None:
        raise ConfigError("as_of must be timezone-aware (e.g. 2024-10-26T02:00:00+00:00)")
    if not EARLIEST_AS_OF <= as_of < LATEST_AS_OF:
        raise ConfigError(
            f"--as-of {as_of.isoformat()} is out of range: lethe evaluates policies between "
            f"{EARLIEST_AS_OF:%Y-%m-%d} and {LATEST_AS_OF - timedelta(days=1):%Y-%m-%d} UTC"
        )
    return as_of


class Lethe:
    """A loaded policy file and the stores it names. Connections open on first use.

    Build one with :meth:`from_file`, :meth:`from_toml` or :meth:`from_config`, then call
    :meth:`check`, :meth:`plan`, :meth:`run`, :meth:`explain`; :attr:`holds` manages lethe's
    own legal holds. Use it as a context manager (or call :meth:`close`) to release connections.

    ``clock`` (default: the real time) is the time lethe runs at and stamps every record with;
    tests inject a :class:`lethe.testing.ManualClock` to simulate days. A real run never acts
    at an ``as_of`` later than this clock's now.
    """

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self._runtime: Runtime | None = None

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str] = "lethe.toml",
        env: Mapping[str, str] | None = None,
        *,
        clock: Clock | None = None,
    ) -> Lethe:
        """Load a policy file (``${VAR}`` expand from ``env``, default ``os.environ``).

        ``clock`` replaces the real time everywhere (tests: :class:`lethe.testing.ManualClock`).
        """
        return cls(load_file(path, env=env), clock=clock)

    @classmethod
    def from_toml(
        cls,
        text: str,
        *,
        base_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> Lethe:
        """Load a policy from TOML text; relative paths resolve against ``base_dir``."""
        return cls(load(text, base_dir=base_dir, env=env), clock=clock)

    @classmethod
    def from_config(
        cls, config: LetheConfig, *, base_dir: Path | None = None, clock: Clock | None = None
    ) -> Lethe:
        """Use policies built in code as :class:`~lethe.config.LetheConfig` models."""
        cross_check(config, "<code>")
        settings = Settings(config=config, source="<code>", base_dir=base_dir or Path.cwd())
        return cls(settings, clock=clock)

    @property
    def runtime(self) -> Runtime:
        """The wired runtime (stores, state database); created on first use."""
        if self._runtime is None:
            self._runtime = Runtime(self.settings, self.clock)
        return self._runtime

    def close(self) -> None:
        """Release every connection."""
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    def __enter__(self) -> Lethe:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- operations -------------------------------------------------------------------------

    def check(self) -> checking.CheckReport:
        """Check the file against the live stores (tables, columns, keys, indexes)."""
        return checking.check(self.runtime)

    def grants(self, role: str = "lethe") -> dict[str, list[str]]:
        """Least-privilege statements per store for running every policy as ``role``."""
        return checking.grants(self.runtime, role)

    def plan(self, policies: Sequence[str] | None = None, *, as_of: datetime | None = None) -> Plan:
        """Exactly what a run would do at ``as_of`` (default now), computed with reads only."""
        as_of = _aware(as_of) or self.runtime.state.now()
        targets = self.runtime.targets(policies)
        planned = make_plan(self.runtime, targets, as_of)
        warnings = [
            f.message + (f" — fix: {f.fix}" if f.fix else "") for f in self._index_warnings(targets)
        ]
        errors = [
            f"circuit breaker would refuse {reason}"
            for reason in breaker_reasons(self.runtime, targets, as_of, planned)
        ]
        return Plan(
            planned.as_of, planned.config_hash, planned.phases, tuple(warnings), tuple(errors)
        )

    def preview_change(
        self,
        against: str | Settings,
        *,
        as_of: datetime | None = None,
        days: int = 30,
        samples: int = 5,
    ) -> Preview:
        """What this policy file does differently from ``against`` (an older file, a path to
        one, or a git revision of this one: :mod:`lethe.config.previous`), item by item, at
        ``as_of`` (default now) and each of the ``days`` days after it. Reads only."""
        if not 0 <= days <= MAX_PREVIEW_DAYS:
            raise ConfigError(f"must be between 0 and {MAX_PREVIEW_DAYS}", "--days")
        if samples < 0:
            raise ConfigError("must be 0 or more", "--samples")
        old = against if isinstance(against, Settings) else load_previous(against, self.settings)
        as_of = _aware(as_of) or self.runtime.state.now()
        previous = Runtime(old, self.clock)
        try:
            return preview(previous, self.runtime, as_of, days=days, samples=samples)
        finally:
            previous.close()

    def run(
        self,
        policies: Sequence[str] | None = None,
        *,
        dry_run: bool | None = None,
        as_of: datetime | None = None,
        plan: Plan | None = None,
        progress: ProgressFn | None = None,
        stop: StopFlag | None = None,
        run_id: str | None = None,
        approved: str | None = None,
    ) -> RunResult:
        """Run the policies (all enabled ones by default) and return what happened.

        ``approved`` names a refused run whose approved plan this run carries out: exactly
        its keys still due and not held, the circuit breaker bypassed for them; the approval
        is used (once) by a real run.

        ``dry_run=None`` follows the policy file's ``run.dry_run`` (default false).

        With ``plan``, only its items that are still due and not held are acted on, and the
        drift is reported. Raises :class:`~lethe.errors.SafetyLimitError` when a circuit
        breaker refuses the run (nothing is changed; the run is still recorded). Setting
        ``stop`` from another thread ends the run after its current batch (status
        ``interrupted``); ``run_id`` names the run instead of a generated id.
        """
        as_of = _aware(as_of)
        dry = self.settings.config.run.dry_run if dry_run is None else dry_run
        if approved is not None:
            plan, run_id = self._approved_plan(approved, plan, dry, run_id)
        if plan is not None and not policies:
            policies = sorted({p.policy for p in plan.phases})
        with run_objects_only():
            targets = self.runtime.targets(policies)
            return execute_run(
                self.runtime,
                targets,
                dry_run=dry,
                as_of=as_of,
                planned=plan,
                progress=progress,
                stop=stop,
                run_id=run_id,
                approved=approved is not None,
            )

    def _approved_plan(
        self, approved: str, plan: Plan | None, dry_run: bool, run_id: str | None
    ) -> tuple[Plan, str]:
        """The plan of an approved refused run, claimed for this run unless it is a dry one."""
        if plan is not None:
            raise ConfigError("give a plan file or an approval, not both", "--approved")
        log = self.runtime.approvals
        approval = log.get(approved)
        planned = self._recorded_plan(approval)
        run_id = run_id or new_id("run-")
        if not dry_run:
            log.claim(approved, run_id, self.approval_window)
        elif approval.status is not ApprovalStatus.APPROVED:
            raise ApprovalStateError(
                f"run {approved}'s plan is {approval.status.value}, not approved"
            )
        return planned, run_id

    @property
    def approval_window(self) -> timedelta:
        """How long a refused run's plan may wait for its approval and its run."""
        return timedelta(seconds=self.settings.config.evidence.approval_window.seconds)

    def approvals(self, limit: int = 100) -> list[Approval]:
        """The plans of real runs the circuit breaker refused, newest first."""
        return self.runtime.approvals.list(limit)

    def approve(
        self,
        run_id: str,
        by: str,
        reason: str,
        *,
        via: str = "api",
        identity: str | None = None,
    ) -> Approval:
        """Approve the recorded plan of the refused run ``run_id``, so that one
        ``run(approved=run_id)`` carries it out; audited (``approval_granted``) with ``by``,
        ``reason``, ``via`` (``cli``, ``http``, ``api``) and the authenticated ``identity``.

        Refused with :class:`~lethe.errors.NotFoundError` for an unknown run,
        :class:`~lethe.errors.ApprovalStateError` when it is not pending (approved, used,
        past the approval window), and :class:`~lethe.errors.PlanChangedError` when the
        policy file changed or items of the plan are no longer due or are held now: the
        approval would then not be of what would run.
        """
        log = self.runtime.approvals
        pending = log.pending(run_id, self.approval_window)
        planned = self._recorded_plan(pending)
        changes = plan_changes(self.runtime, planned, self.runtime.state.now())
        if changes.changed:
            raise PlanChangedError(
                f"run {run_id} cannot be approved: {changes.describe()}; run again for a "
                "fresh plan to approve"
            )
        return log.approve(run_id, by, reason, self.approval_window, via=via, identity=identity)

    def _recorded_plan(self, approval: Approval) -> Plan:
        """An approval's plan, if it was made under this policy file."""
        run_id = approval.run_id
        planned = Plan.from_document(approval.plan, source=f"the approval of run {run_id}")
        if planned.config_hash != self.settings.hash:
            raise PlanChangedError(
                f"the approval of run {run_id} is stale: the policy file changed since its "
                "plan; run again for a fresh plan to approve"
            )
        return planned

    def health(
        self, policies: Sequence[str] | None = None, *, as_of: datetime | None = None
    ) -> HealthReport:
        """Whether each policy ran successfully within ``health.window`` and its last run had
        no more than ``health.max_errors`` errors (from the recorded runs)."""
        return health(self.runtime, policies, _aware(as_of))

    def attest(
        self,
        policies: Sequence[str] | None = None,
        *,
        as_of: datetime | None = None,
        tolerance: Duration | None = None,
        samples: int = SAMPLE_KEYS,
    ) -> Attestation:
        """Items due and unheld for longer than ``tolerance`` (default: ``[evidence]
        overdue_tolerance``, else twice the policy's job interval, else a day), per destructive
        phase, at ``as_of`` (default now), with up to ``samples`` overdue keys per phase and
        when its oldest overdue item became due. Reads only."""
        at = _aware(as_of) or self.runtime.state.now()
        return attest(self.runtime, policies, at, tolerance, samples=samples)

    def orphans(
        self,
        policies: Sequence[str] | None = None,
        *,
        delete: bool = False,
        as_of: datetime | None = None,
    ) -> list[OrphanReport]:
        """Rows whose linked item is gone and items no row points to, per link; with
        ``delete``, datasets saying ``orphans = "delete"`` lose their orphans that are due
        (by the linked dataset's own rule, at ``as_of``) and not held."""
        return orphans(self.runtime, policies, delete=delete, as_of=_aware(as_of))

    def explain(self, dataset: str, key: str, *, as_of: datetime | None = None) -> Explanation:
        """When ``key`` of ``dataset`` will go, by which policy, and what blocks it."""
        return explain(self.runtime, dataset, key, _aware(as_of))

    @property
    def holds(self) -> HoldRegistry:
        """lethe's own hold registry (place, release, list)."""
        return self.runtime.holds

    def hold_key(self, dataset: str, key: str) -> str:
        """The canonical text of ``key`` as a hold of ``dataset`` stores it (``[3,17]`` however
        it was typed; ending in ``*``: a prefix of text keys); ``ConfigError`` for an unknown
        dataset or a key its store cannot hold."""
        handle = self.runtime.dataset(dataset)
        try:
            return key_text(handle.parse_key(key))
        except ConfigError:
            if not key.endswith(PREFIX_MARK):
                raise
            raise ConfigError(
                f"{key!r} is a prefix hold, and prefix holds work on text keys only (object "
                f"paths, Redis keys, text columns); {dataset}'s keys are not text: hold each "
                "key on its own"
            ) from None

    def place_hold(self, dataset: str, key: str, reason: str, placed_by: str) -> Hold:
        """Hold ``key`` of ``dataset`` (checked and made canonical by :meth:`hold_key`)."""
        return self.holds.add(dataset, self.hold_key(dataset, key), reason, placed_by)

    def runs(self, last: int = 20) -> list[dict[str, Any]]:
        """The newest runs, newest first (``last`` between 1 and 100,000)."""
        if not 1 <= last <= 100_000:
            raise ConfigError(f"--last {last}: give a number of runs between 1 and 100000")
        return self.runtime.runs.recent(last)

    def run_record(self, run_id: str) -> dict[str, Any]:
        """The full record of one run (a unique prefix of its id is enough)."""
        return self.runtime.runs.show(run_id)

    def verify_audit(
        self, trusted_keys: Sequence[str] = (), *, anchors: bool = True
    ) -> VerifyReport:
        """Recompute the audit chain and check its signatures against ``trusted_keys`` (base64
        public keys; default: the configured key) and, unless ``anchors`` is false, every run
        head against each configured anchor; the report lists every break found."""
        report = self.runtime.ledger.verify(trusted_keys)
        if not anchors:
            return report
        check = self.runtime.check_anchors()
        return replace(
            report,
            problems=(*report.problems, *check.problems),
            notes=(*report.notes, *check.notes),
        )

    def notify_test(self, address: str, *, policy: str | None = None) -> TestDelivery:
        """Send one test message to ``address`` through the configured sender.

        The sender is the named policy's warn phase's, the only one configured, or SMTP from
        the ``EMAIL_*`` environment variables. Raises a :class:`~lethe.errors.DeliveryError`
        subclass saying what failed (unreachable, TLS, authentication, rejected).
        """
        configured = senders_of(self.settings.config.policies)
        return send_test(pick_sender(configured, policy, os.environ), address)

    # -- plan files -------------------------------------------------------------------------

    @staticmethod
    def read_plan(path: str | os.PathLike[str]) -> Plan:
        """Read a plan file written by ``lethe plan --out``."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError
            raise PlanFileError(f"cannot read plan file {path}: {exc}") from exc
        except RecursionError:
            raise PlanFileError(f"cannot read plan file {path}: nested too deeply") from None
        if not isinstance(document, dict):
            raise PlanFileError(f"{path}: not a plan document")
        return Plan.from_document(document, source=str(path))

    @staticmethod
    def write_plan(plan: Plan, path: str | os.PathLike[str]) -> None:
        """Write ``plan`` as JSON with its hash."""
        Path(path).write_text(json.dumps(plan.to_document(), indent=1) + "\n", encoding="utf-8")

    def _index_warnings(self, targets: Sequence[Target]) -> list[Finding]:
        findings: list[Finding] = []
        seen: set[str] = set()
        for target in targets:
            if target.dataset in seen:
                continue
            seen.add(target.dataset)
            store = self.runtime.store(str(target.dataset_config.store))
            findings.extend(
                f
                for f in store.check(target.dataset, target.dataset_config)
                # A plan shows its blocked items itself; the missing indexes it repeats.
                if f.level == "warning" and "has no index" in f.message
            )
        return findings
