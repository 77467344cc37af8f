"""The interface every deployment target implements, and the values it works with.

A target turns the ``[[jobs]]`` of a policy file into files for one platform, in two pure
steps the generator (:mod:`lethe.deploy.generate`) drives for it:

1. :meth:`Target.translate` — the job's schedule (or, under ``--approximate=tick``, a coarser
   tick) in the platform's dialect, or :class:`~lethe.deploy.dialects.Unsupported` with a
   one-line reason. :meth:`Target.fixed_zone` names the one zone a platform fires in, if it
   cannot carry the job's own; :attr:`Target.dst` says how it treats DST changes.
2. :meth:`Target.render` — the files, in memory. Nothing is written until every job of every
   file has rendered and no file contains a secret.

Every artifact runs ``lethe tick JOB`` (or POSTs ``/jobs/JOB/runs`` to ``lethe serve``): the
slot ledger decides what runs, so a platform's retries and duplicate firings are harmless.
"""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Literal

from lethe.config.deploy import DeployConfig
from lethe.config.jobs import JobConfig
from lethe.schedule.cron import Schedule

__all__ = ["Artifact", "DeployContext", "DstRule", "Firing", "Target"]

#: How a platform treats a DST change: ``cron`` as Debian cron (and lethe) do; ``skips`` a
#: fixed time that does not exist that day; ``unspecified`` undocumented.
DstRule = Literal["cron", "skips", "unspecified"]


@dataclass(frozen=True)
class Artifact:
    """One generated file, relative to the output directory."""

    path: str
    content: str | bytes
    executable: bool = False

    @property
    def text(self) -> str:
        """The content as text (UTF-16 files decoded), for checks and previews."""
        if isinstance(self.content, bytes):
            return self.content.decode("utf-16")
        return self.content


@dataclass(frozen=True)
class Firing:
    """A job as the platform fires it.

    ``schedule`` is the job's own, or the tick that replaces it (``tick``); ``expressions``
    are what the platform is given; ``delay`` bounds, in minutes, how late a tick may start a
    slot (0: it fires at every slot).
    """

    job: JobConfig
    index: int
    schedule: Schedule
    expressions: tuple[str, ...]
    tick: bool = False
    delay: int = 0

    @property
    def declaration(self) -> str:
        """The job's declaration, for headers: ``clear-sessions ('0 2 * * *' Australia/Sydney)``."""
        own = f"{self.job.name} ('{self.job.schedule}' {self.job.timezone})"
        if self.tick:
            return f"{own}, fired by the tick '{self.schedule.expression}' {self.schedule.zone}"
        return own


@dataclass(frozen=True)
class DeployContext:
    """What every target may read: the policy file's deployment facts and the request."""

    deploy: DeployConfig
    project: str
    source: str
    env_names: tuple[str, ...]
    start: datetime
    stage: str | None = None
    approximate: bool = False
    job_count: int = 0  # jobs in the policy file, selected or not
    warnings: list[str] = field(default_factory=list, compare=False)

    def lethe(self, *args: str) -> list[str]:
        """The lethe command line where the job runs: ``lethe --config FILE ARGS…``; with
        ``config = ""`` the command finds the file itself (``python manage.py lethe`` reads
        Django's ``LETHE_CONFIG`` setting) and no ``--config`` is passed."""
        config = ["--config", self.deploy.config] if self.deploy.config else []
        return [*self.deploy.command, *config, *args]

    def tick(self, job: str) -> list[str]:
        """The command an artifact runs for ``job``."""
        return self.lethe("tick", job)

    def shell(self, argv: list[str]) -> str:
        """``argv`` quoted for a POSIX shell."""
        return shlex.join(argv)


class Target(ABC):
    """One platform. Subclasses register with :func:`lethe.deploy.registry.register`."""

    name: ClassVar[str]
    title: ClassVar[str]
    dst: ClassVar[DstRule] = "unspecified"
    #: the finest tick the platform can run, for ``--approximate=tick`` when no tick fires
    #: exactly at every slot
    finest_tick: ClassVar[str] = "* * * * *"

    def __init__(self, context: DeployContext) -> None:
        self.context = context

    def fixed_zone(self) -> str | None:
        """The only zone the platform fires in, or None when it carries the job's own."""
        return None

    def zone_reason(self, zone: str) -> str:
        """Why a job outside :meth:`fixed_zone` cannot run as declared."""
        return f"{self.title} fires in {zone} only"

    @abstractmethod
    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        """``schedule`` in the platform's terms, or ``Unsupported`` with a one-line reason."""

    @abstractmethod
    def render(self, firings: list[Firing]) -> list[Artifact]:
        """The files for ``firings``, in memory; ``DeployRefusedError`` if a name does not fit."""
