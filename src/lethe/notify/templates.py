"""Rendering notices from Jinja2 templates: a subject, a text body and an HTML body.

Defaults ship in ``lethe/notify/templates``; a policy's ``templates`` directory may override any
of ``subject.txt``, ``body.txt`` and ``body.html`` (the others keep the defaults). Templates run
sandboxed, HTML is autoescaped, and an unknown variable is an error (``lethe check`` renders
every template once with sample values, so a typo is caught before a run).

Variables (see docs/notifications.md): ``recipient``, ``site_url``, ``policy``, ``dataset``,
``now``, ``count``, ``milestones`` (labels, most urgent first), ``soonest`` / ``soonest_on``
(the earliest deletion), and ``items``, each with ``key``, ``milestone`` (``"7d"``), ``label``
(``"7-day"``), ``due`` (the due instant), ``deletes_at`` / ``deletes_on`` (the earliest
instant it may be deleted) and ``fields`` (the columns named in the phase's ``fields``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Jinja2 is imported when a warn phase's templates are built: a run or plan that sends no
    # notice never loads it (tests/test_lazy_imports.py).
    from jinja2.sandbox import SandboxedEnvironment

__all__ = ["NAMES", "NoticeItem", "Rendered", "Templates", "notice_context", "templates_for"]

DEFAULTS = Path(__file__).parent / "templates"
NAMES = ("subject.txt", "body.txt", "body.html")


@dataclass(frozen=True)
class NoticeItem:
    """One item in a notice, as templates see it."""

    key: str
    milestone: str
    label: str
    due: datetime | None
    deletes_at: datetime
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def deletes_on(self) -> str:
        """``2024-10-26``."""
        return self.deletes_at.astimezone(UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Rendered:
    """A rendered notice."""

    subject: str
    text: str
    html: str


def notice_context(
    *,
    recipient: str,
    items: Sequence[NoticeItem],
    policy: str,
    dataset: str,
    site_url: str,
    now: datetime,
    order: Sequence[str],
) -> dict[str, Any]:
    """The variables a template may use (``order``: milestone labels, most urgent first)."""
    soonest = min(item.deletes_at for item in items)
    labels = {item.label for item in items}
    return {
        "recipient": recipient,
        "site_url": site_url.rstrip("/"),
        "policy": policy,
        "dataset": dataset,
        "now": now,
        "items": list(items),
        "count": len(items),
        "milestones": [label for label in order if label in labels],
        "soonest": soonest,
        "soonest_on": soonest.astimezone(UTC).strftime("%Y-%m-%d"),
    }


class Templates:
    """The three templates of one warn phase."""

    def __init__(self, directory: Path | None = None) -> None:
        from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
        from jinja2.sandbox import SandboxedEnvironment

        self.directory = directory
        loaders = [FileSystemLoader(str(directory))] if directory else []
        loader = ChoiceLoader([*loaders, FileSystemLoader(str(DEFAULTS))])
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": StrictUndefined,
            "keep_trailing_newline": True,
            "trim_blocks": True,
            "lstrip_blocks": True,
        }
        self._text = SandboxedEnvironment(autoescape=False, **common)
        self._html = SandboxedEnvironment(autoescape=True, **common)

    def render(self, context: Mapping[str, Any]) -> Rendered:
        """Render all three; raises ``ValueError`` naming the template that failed."""
        subject = self._render(self._text, "subject.txt", context)
        return Rendered(
            subject=" ".join(subject.split()),
            text=self._render(self._text, "body.txt", context),
            html=self._render(self._html, "body.html", context),
        )

    def check(self) -> None:
        """Render every template once with sample values (``lethe check``)."""
        now = datetime(2024, 10, 26, 2, 0, tzinfo=UTC)
        item = NoticeItem("42", "7d", "7-day", now, now + timedelta(days=7), {"name": "sample"})
        self.render(
            notice_context(
                recipient="owner@example.org",
                items=[item],
                policy="sample",
                dataset="sample",
                site_url="https://example.org",
                now=now,
                order=["7-day"],
            )
        )

    def _render(self, env: SandboxedEnvironment, name: str, context: Mapping[str, Any]) -> str:
        from jinja2 import TemplateError

        try:
            return env.get_template(name).render(context)
        except TemplateError as exc:
            source = (
                self.directory / name
                if self.directory and (self.directory / name).is_file()
                else f"default {name}"
            )
            line = getattr(exc, "lineno", None)
            where = f"{source}{f', line {line}' if line else ''}"
            raise ValueError(f"template {where}: {exc.message or type(exc).__name__}") from exc


def templates_for(directory: Path | None) -> Templates:
    """The templates of ``directory`` (None: the defaults), compiled once per process for as
    long as the directory's override files stay the same."""
    stamp: tuple[tuple[str, float], ...] = ()
    if directory is not None:
        stamp = tuple(
            (name, (directory / name).stat().st_mtime)
            for name in NAMES
            if (directory / name).is_file()
        )
    return _cached(directory, stamp)


@lru_cache(maxsize=32)
def _cached(directory: Path | None, stamp: tuple[tuple[str, float], ...]) -> Templates:
    return Templates(directory)
