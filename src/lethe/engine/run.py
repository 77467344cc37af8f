"""One run, start to finish: recover, record, check limits, execute phases, record the result.

The run holds a lease renewed by a heartbeat (:mod:`lethe.engine.lease`) from its start record to
its final one; a stop asked for through its :class:`~lethe.engine.stop.StopFlag` ends it after
the batch in flight, recorded as ``interrupted``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from lethe.actions.external import ExternalAction
from lethe.engine.executor import PhaseRunner, ProgressFn
from lethe.engine.external import run_external
from lethe.engine.files import FileReport, release_files
from lethe.engine.lease import run_lease
from lethe.engine.planning import estimate, plan, removed_rows, trip_reason
from lethe.engine.recovery import recover
from lethe.engine.runtime import Runtime, Target
from lethe.engine.stop import StopFlag, StopRequested
from lethe.errors import (
    ConfigError,
    LeaseLostError,
    LetheError,
    PlanFileError,
    SafetyLimitError,
)
from lethe.model.plan import Plan
from lethe.model.results import PhaseResult, RunResult, RunStatus
from lethe.state.approvals import next_steps
from lethe.state.batches import new_id
from lethe.state.ledger import EventDraft

__all__ = ["breaker_reasons", "execute_run"]

log = logging.getLogger(__name__)


def breaker_reasons(
    rt: Runtime,
    targets: Sequence[Target],
    as_of: datetime,
    planned: Plan | None = None,
    failures: dict[str, str] | None = None,
) -> list[str]:
    """Every policy whose planned removals the circuit breaker refuses, with the reason.

    A policy whose counts cannot be read is not judged: it goes into ``failures`` (when given,
    else the error propagates) and must not run, since its size is unknown.
    """
    reasons: list[str] = []
    for target in targets:
        if not rt.config.breaker(target.policy).enabled:
            continue  # nothing to judge: don't count what a run would remove
        try:
            reason = _verdict(rt, target, as_of, planned)
        except LetheError as exc:
            if failures is None:
                raise
            failures[target.policy] = f"policy {target.policy}: {exc}"
            continue
        if reason:
            reasons.append(f"policy {target.policy}: {reason}")
    return reasons


def _verdict(rt: Runtime, target: Target, as_of: datetime, planned: Plan | None) -> str | None:
    """One policy's breaker verdict, from the plan's removals or else from counts (which stop
    as soon as the verdict is settled: see :func:`estimate`)."""
    sizes = functools.cache(target.handle.table_sizes)  # read once, if at all
    if planned is not None:
        rows = removed_rows([p for p in planned.phases if p.policy == target.policy])
    else:
        rows = removed_rows(
            estimate(
                rt, target, as_of, enough=lambda rows: bool(trip_reason(rt, target, rows, sizes))
            )
        )
    return trip_reason(rt, target, rows, sizes)


def _from_plan(planned: Plan) -> list[PhaseResult]:
    return [
        PhaseResult(
            policy=p.policy,
            dataset=p.dataset,
            table=p.table,
            phase=p.phase,
            action=p.action,
            label=p.label,
            acted=len(p.keys),
            held=len(p.held),
            blocked=len(p.blocked),
            capped=p.capped,
            cascade=dict(p.cascade),
            updated=dict(p.updated),
            destructive=p.destructive,
            summary=p.summary,
            details=dict(p.details),
            unreadable=len(p.unreadable),
        )
        for p in planned.phases
    ]


def execute_run(
    rt: Runtime,
    targets: Sequence[Target],
    *,
    dry_run: bool,
    as_of: datetime | None,
    planned: Plan | None,
    progress: ProgressFn | None,
    stop: StopFlag | None = None,
    run_id: str | None = None,
    approved: bool = False,
) -> RunResult:
    """Run (or dry-run) ``targets``; the result is recorded whatever happens.

    ``approved``: ``planned`` is an approved plan (``lethe run --approved``): the circuit
    breaker does not judge it, and only its keys are acted on.

    ``stop`` lets another thread end the run after its current batch; ``run_id`` lets a caller
    (a job claiming its slot) name the run before it starts.
    """
    started = rt.state.now()
    as_of = as_of or started
    if not dry_run and as_of > started:
        raise ConfigError(
            f"as-of {as_of.isoformat()} is later than now ({started.isoformat()}): a real run "
            "never acts ahead of time; preview the future with --dry-run or `lethe plan`"
        )
    if planned is not None and planned.config_hash != rt.settings.hash:
        raise PlanFileError(
            "the plan was made for a different version of the policy file; plan again"
        )
    run_id = run_id or new_id("run-")
    problem = rt.runs.runs_dir_problem()
    if problem:  # refused before anything is written, rather than after the deletions
        raise ConfigError(problem, f"{rt.settings.source}: state.runs_dir")
    stop = stop or StopFlag()
    lease = timedelta(seconds=rt.config.scheduler.lease.seconds)
    warnings = recover(rt)
    policies = [t.policy for t in targets]
    rt.runs.start(run_id, policies, dry_run, as_of, started, lease)
    log.info("run %s started%s: %s", run_id, " (dry run)" if dry_run else "", ", ".join(policies))
    with run_lease(rt.runs, run_id, lease, stop):
        return _execute(
            rt,
            targets,
            run_id,
            dry_run,
            as_of,
            started,
            planned,
            progress,
            stop,
            warnings,
            approved,
        )


def _execute(
    rt: Runtime,
    targets: Sequence[Target],
    run_id: str,
    dry_run: bool,
    as_of: datetime,
    started: datetime,
    planned: Plan | None,
    progress: ProgressFn | None,
    stop: StopFlag,
    warnings: list[str],
    approved: bool = False,
) -> RunResult:
    policies = [t.policy for t in targets]
    phases: list[PhaseResult] = []
    errors: list[str] = []
    drift: dict[str, int] = {}
    # Failed until the run reaches its end: whatever escapes below is recorded as a failure.
    status = RunStatus.FAILED
    tripped: str | None = None
    unknown: dict[str, str] = {}
    raised: str | None = None  # the error the caller will report itself
    preview: Plan | None = None
    files = FileReport()
    try:
        if dry_run:  # what the real run would do: with a plan file, its items and drift
            preview = plan(rt, targets, as_of, planned, drift if planned else None)
            phases = _from_plan(preview)
            reasons = breaker_reasons(rt, targets, as_of, planned or preview)
        else:
            release_files(rt, run_id, files)  # the retry ledger, before anything new
            reasons = [] if approved else breaker_reasons(rt, targets, as_of, planned, unknown)
            errors.extend(unknown.values())
        if reasons:
            tripped = "; ".join(reasons)
            if not dry_run and _ask_approval(rt, targets, run_id, as_of, planned, tripped, errors):
                tripped = f"{tripped}; {next_steps(run_id)}"
        elif not dry_run:
            for target in targets:
                if target.policy not in unknown:
                    _run_policy(
                        rt, target, as_of, run_id, planned, progress, errors, drift, stop, phases
                    )
                    release_files(rt, run_id, files)  # the policy's batches are settled
        errors.extend(files.errors())
        status = _reached_end(tripped, errors)
    except StopRequested as exc:
        status = RunStatus.INTERRUPTED
        errors.append(f"stopped after the batch in flight: {exc.reason}")
    except BaseException as exc:
        status, raised = _ended_by(exc)
        errors.append(raised)
        raise
    finally:
        result = RunResult(
            run_id=run_id,
            dry_run=dry_run,
            as_of=as_of,
            started_at=started,
            completed_at=rt.state.now(),
            status=status,
            policies=tuple(policies),
            phases=tuple(phases),
            errors=tuple(errors),
            warnings=tuple(warnings),
            limit_tripped=tripped,
            drift=drift,
            plan=preview,
        )
        result, problem = _record(rt, result, raised)
    if problem:
        raise LetheError(f"run {run_id}: {problem}; the run is recorded failed")
    if tripped:
        raise SafetyLimitError(tripped, result)
    return result


def _ask_approval(
    rt: Runtime,
    targets: Sequence[Target],
    run_id: str,
    as_of: datetime,
    planned: Plan | None,
    tripped: str,
    errors: list[str],
) -> bool:
    """Record the refused run's exact plan as pending approval (``lethe approve``); a plan
    that cannot be made or kept leaves the run refused all the same, with why."""
    try:
        rt.approvals.request(run_id, tripped, plan(rt, targets, as_of, planned))
    except LetheError as exc:
        errors.append(f"no approval could be recorded for this run: {exc}")
        return False
    return True


def _ended_by(exc: BaseException) -> tuple[RunStatus, str]:
    """How a run that an exception ended is recorded, and the error it records."""
    if isinstance(exc, KeyboardInterrupt):
        return RunStatus.INTERRUPTED, "interrupted"
    if isinstance(exc, LeaseLostError):  # taken for dead by another process
        return RunStatus.INTERRUPTED, str(exc)
    if isinstance(exc, LetheError):
        return RunStatus.FAILED, str(exc)
    return RunStatus.FAILED, f"unexpected {type(exc).__name__}: {exc}"


def _reached_end(tripped: str | None, errors: list[str]) -> RunStatus:
    if tripped:
        return RunStatus.TRIPPED
    return RunStatus.DEGRADED if errors else RunStatus.SUCCEEDED


def _record(rt: Runtime, result: RunResult, raised: str | None) -> tuple[RunResult, str | None]:
    """The run's last audit event (for a real run that was not refused) and its record.

    A run whose record file cannot be written (``runs_dir`` became a file, lost its
    permissions) is recorded ``failed`` with why; the problem is returned for the caller.
    """
    # The last batch's events, committed in the store, go to the ledger before the run's end.
    rt.batches.flush(result.run_id)
    problem = rt.runs.runs_dir_problem()
    if problem:
        result = replace(result, status=RunStatus.FAILED, errors=(*result.errors, problem))
    head = rt.ledger.head()
    if not result.dry_run and result.status is not RunStatus.TRIPPED:
        finished = EventDraft(
            run_id=result.run_id,
            event="run_finished",
            details={
                "status": result.status.value,
                "counts": result.counts(),
                "errors": len(result.errors),
            },
        )
        with rt.state.write() as conn:
            head = rt.ledger.append(conn, [finished])
    if not result.dry_run:
        # After the head committed, outside any deletion: a failing anchor only warns.
        late = rt.publish_heads()
        if late:
            result = replace(result, warnings=(*result.warnings, *late))
    rt.runs.finish(result, head, file=problem is None, policy_hash=rt.settings.hash)
    for error in result.errors:
        if error not in (raised, problem):
            log.warning("run %s: %s", result.run_id, error)
    log.info("run %s %s: %s", result.run_id, result.status.value, result.counts())
    return result, problem


def _run_policy(
    rt: Runtime,
    target: Target,
    as_of: datetime,
    run_id: str,
    planned: Plan | None,
    progress: ProgressFn | None,
    errors: list[str],
    drift: dict[str, int],
    stop: StopFlag,
    results: list[PhaseResult],
) -> None:
    """Each phase in order, into ``results``; a failure stops this policy (and is recorded),
    not the run; a stop ends the run after the batch in flight."""
    cap_left = rt.config.max_deletions(target.policy)
    for index, action in enumerate(target.actions):
        stop.check()  # before any phase acts, a warning phase too: a lost slot sends nothing
        if isinstance(action, ExternalAction):
            wanted = _planned_keys(planned, target.policy, index)
            try:
                result, failures = run_external(rt, target, index, as_of, run_id, wanted)
            except LetheError as exc:
                errors.append(f"policy {target.policy}, phase [{index}] {action.type}: {exc}")
                break
            results.append(result)
            errors.extend(
                f"policy {target.policy}, phase [{index}] {action.type}: {failure}"
                for failure in failures
            )
            continue
        runner = PhaseRunner(rt, target, index, as_of, run_id, cap_left, progress, stop)
        try:
            if planned is not None:
                phase_plan = planned.phase(target.policy, index)
                keys = [str(k) for k in phase_plan.keys] if phase_plan else []
                results.append(runner.run_planned(keys))
                for name, count in runner.tally.drift.items():
                    drift[name] = drift.get(name, 0) + count
            else:
                results.append(runner.run())
        except BaseException as exc:
            results.append(runner.result())
            errors.extend(runner.errors)
            if not isinstance(exc, LetheError) or isinstance(exc, LeaseLostError):
                raise  # a stop, taken for dead, or the unexpected: the run ends here
            errors.append(f"policy {target.policy}, phase [{index}] {action.type}: {exc}")
            break
        rt.batches.flush(run_id)  # the phase's last batch: in the ledger before the next phase
        errors.extend(runner.errors)
        if action.destructive and cap_left is not None:
            cap_left = runner.cap_left


def _planned_keys(planned: Plan | None, policy: str, index: int) -> set[str] | None:
    if planned is None:
        return None
    phase = planned.phase(policy, index)
    return {str(k) for k in phase.keys} if phase else set()
