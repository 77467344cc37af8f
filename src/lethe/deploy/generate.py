"""``lethe deploy``: check every job against the target, then render, then write.

Stages, in order, before anything is written: the policy file loads (structure, schema, cross
checks); each job is translated for the target — its zone, its schedule in the dialect, how
the platform treats DST — and refused with a one-line reason unless ``--approximate=tick`` asks
for a coarser tick calling ``lethe tick``; the files render in memory; no file may contain a
registered secret. Only then does :func:`write` touch the output directory.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from lethe import secrets
from lethe.config.jobs import JobConfig
from lethe.config.loader import Settings
from lethe.deploy.base import Artifact, DeployContext, Firing, Target
from lethe.deploy.dialects import Unsupported
from lethe.deploy.registry import TARGETS
from lethe.deploy.timing import exposure, horizon_start, max_delay, tick_candidates
from lethe.errors import ConfigError, DeployRefusedError
from lethe.schedule.cron import Schedule

__all__ = ["context_for", "env_names", "generate", "plan_firing", "write"]

_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
_UTC = {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"}
_UTC |= {"GMT", "Etc/GMT", "Etc/GMT+0", "Etc/GMT-0", "Etc/GMT0", "GMT0", "GMT+0", "GMT-0"}


def env_names(policy_text: str) -> tuple[str, ...]:
    """The environment variables a policy file reads (``${VAR}``), sorted: artifacts pass
    them by name, never by value."""
    return tuple(sorted(set(_REFERENCE.findall(policy_text))))


def context_for(
    settings: Settings,
    policy_text: str,
    *,
    now: datetime,
    stage: str | None = None,
    approximate: bool = False,
) -> DeployContext:
    """The context every target of one ``lethe deploy`` run reads."""
    deploy = settings.config.deploy
    _refuse_plain_lethe_for_django(settings)
    project = deploy.project or _slug(settings.base_dir.name) or "lethe"
    return DeployContext(
        deploy=deploy,
        project=project,
        source=settings.source,
        env_names=tuple(sorted({*env_names(policy_text), *deploy.env})),
        start=horizon_start(now),
        stage=stage,
        approximate=approximate,
        job_count=len(settings.config.jobs),
    )


def _refuse_plain_lethe_for_django(settings: Settings) -> None:
    # The plain command refuses django:// URLs, so its jobs would fail at every slot.
    config = settings.config
    if "command" in config.deploy.model_fields_set:
        return
    urls = [config.state.url, *(s.url for s in config.stores.values())]
    if any(url.lower().startswith("django://") for url in urls):
        raise DeployRefusedError(
            "deploy.command: the file names Django databases (django://), which only "
            'python manage.py lethe resolves: set [deploy] command = ["python", "manage.py", '
            '"lethe"] and config = "" (docs/django.md#commands)'
        )


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")


def generate(
    target_name: str, jobs: list[JobConfig], all_jobs: list[JobConfig], context: DeployContext
) -> list[Artifact]:
    """Every file ``target_name`` needs for ``jobs``; raises before returning anything wrong."""
    target = TARGETS[target_name](context)
    firings = [plan_firing(target, all_jobs.index(job), job) for job in jobs]
    artifacts = target.render(firings)
    paths = [a.path for a in artifacts]
    if len(set(paths)) != len(paths):
        raise DeployRefusedError(f"{target_name}: two jobs map to the same file name")
    for artifact in artifacts:
        if secrets.scrub(artifact.text) != artifact.text:
            raise DeployRefusedError(
                f"{artifact.path} would contain a secret value; secrets are referenced, never "
                "written (check the [deploy] table for a value taken from a secret variable)",
                context.source,
            )
    return artifacts


def plan_firing(target: Target, index: int, job: JobConfig) -> Firing:
    """How ``target`` fires ``job``: exactly, or (``--approximate=tick``) by a tick."""
    context = target.context
    schedule = job.cron
    try:
        return Firing(job, index, schedule, _translate(target, schedule, job.name))
    except Unsupported as exc:
        reason = str(exc)
    where = f"{context.source}: jobs[{index}]"
    said = f"{target.name} cannot run job {job.name!r} ('{job.schedule}' in {job.timezone})"
    if not context.approximate:
        raise DeployRefusedError(
            f"{said}: {reason}; nothing written (--approximate=tick fires `lethe tick` on a "
            "coarser schedule instead)",
            where,
        )
    firing = _tick(target, index, job)
    late = (
        f", so a slot may start up to {firing.delay} minute{'s' if firing.delay != 1 else ''} late"
        if firing.delay
        else ", which fires at every slot's minute, so no slot starts late (beyond the "
        "platform's own delay in starting a job)"
    )
    context.warnings.append(
        f"{where}: {said}: {reason}; emitting the tick '{firing.schedule.expression}' "
        f"({firing.schedule.zone}) that calls `lethe tick {job.name}`{late}; the slot ledger "
        "keeps the exact schedule"
    )
    return firing


def _translate(target: Target, schedule: Schedule, job: str) -> tuple[str, ...]:
    zone = target.fixed_zone()
    if zone is not None and not _same_zone(zone, schedule.zone):
        raise Unsupported(f"{target.zone_reason(zone)}, and the job is in {schedule.zone}")
    expressions = target.translate(schedule)
    _check_dst(target, schedule, job)
    return expressions


def _same_zone(a: str, b: str) -> bool:
    return a == b or (a in _UTC and b in _UTC)


def _check_dst(target: Target, schedule: Schedule, job: str) -> None:
    if target.dst == "cron":
        return
    found = exposure(schedule, target.context.start)
    first = found.first()
    if first is None:
        return
    if target.dst == "skips" and found.moved:
        moved = found.moved[0].astimezone(schedule.tz)
        raise Unsupported(
            f"{target.title} skips the {moved:%Y-%m-%d} slot in {schedule.zone}, whose time the "
            f"clocks jump over (cron and lethe run it at {moved:%H:%M}); pick a time outside "
            "the DST change"
        )
    wall = first.astimezone(schedule.tz).strftime("%Y-%m-%d %H:%M")
    target.context.warnings.append(
        f"{target.name}: job {job!r} ('{schedule.expression}') meets a DST change in "
        f"{schedule.zone} ({wall}), where {target.title} may fire differently from cron; the "
        "ledger runs each slot once, and a slot it does not fire runs at its next firing"
    )


def _tick(target: Target, index: int, job: JobConfig) -> Firing:
    zone = target.fixed_zone() or "UTC"
    start = target.context.start
    for candidate in tick_candidates(job.cron, zone, start):
        tick = Schedule.parse(candidate, zone)
        try:
            return Firing(job, index, tick, _translate(target, tick, job.name), tick=True)
        except Unsupported:
            continue
    tick = Schedule.parse(target.finest_tick, zone)
    expressions = _translate(target, tick, job.name)
    return Firing(job, index, tick, expressions, True, max_delay(job.cron, tick, start))


def write(artifacts: list[Artifact], out: Path) -> list[Path]:
    """Write ``artifacts`` under ``out`` (created if missing); return the paths written."""
    written: list[Path] = []
    try:
        for artifact in artifacts:
            path = out / artifact.path
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(artifact.content, bytes):
                path.write_bytes(artifact.content)
            else:
                path.write_text(artifact.content, encoding="utf-8")
            if artifact.executable:
                path.chmod(0o755)
            written.append(path)
    except OSError as exc:
        raise ConfigError(f"cannot write {exc.filename}: {exc.strerror}") from exc
    return written
