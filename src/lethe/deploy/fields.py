"""A canonical schedule taken apart: each cron field as the set of values it matches.

Translators render these sets in their own dialect, so what a target receives is derived from
what lethe's own scheduler computes with, never re-parsed from the text by hand. The one fact a
set loses is whether a day field *starts with* ``*`` (``*/2``): Debian cron then ANDs
day-of-month with day-of-week instead of ORing them, and :attr:`CronFields.star_step_days`
flags it so that translators can refuse rather than change the meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from lethe.schedule.cron import Schedule

__all__ = ["BOUNDS", "MONTH_NAMES", "WEEKDAY_NAMES", "CronField", "CronFields", "runs"]

BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_LOOKUP = {
    3: {name: i + 1 for i, name in enumerate(MONTH_NAMES)},
    4: {name: i for i, name in enumerate(WEEKDAY_NAMES)},
}


@dataclass(frozen=True)
class CronField:
    """One field: its canonical text and the values it matches (Sunday is 0)."""

    index: int
    text: str
    values: frozenset[int]

    @property
    def star(self) -> bool:
        """Exactly ``*``: every value, and no restriction on the day."""
        return self.text == "*"

    @property
    def every(self) -> bool:
        """Whether the field matches every value of its range."""
        low, high = BOUNDS[self.index]
        return len(self.values) == high - low + 1

    @property
    def step(self) -> int | None:
        """``n`` for a field written ``*/n``, else None."""
        base, slash, step = self.text.partition("/")
        return int(step) if slash and base == "*" and "," not in self.text else None

    def sorted(self) -> list[int]:
        """The values in increasing order."""
        return sorted(self.values)


@dataclass(frozen=True)
class CronFields:
    """The five fields of a canonical (normalised) schedule."""

    minute: CronField
    hour: CronField
    dom: CronField
    month: CronField
    dow: CronField

    @classmethod
    def of(cls, schedule: Schedule) -> CronFields:
        """Expand ``schedule.cron`` (already validated and normalised by :class:`Schedule`)."""
        parts = schedule.cron.split(" ")
        fields = [CronField(i, part, frozenset(_expand(i, part))) for i, part in enumerate(parts)]
        return cls(*fields)

    @property
    def days_restricted(self) -> tuple[bool, bool]:
        """Whether day-of-month and day-of-week are restricted (Debian: not starting with ``*``)."""
        return (not self.dom.text.startswith("*"), not self.dow.text.startswith("*"))

    @property
    def days_ored(self) -> bool:
        """Both day fields restricted: cron runs on days matching either."""
        return all(self.days_restricted)

    @property
    def star_step_days(self) -> str | None:
        """A day field like ``*/2`` (not every day) beside a day field other than ``*``:
        Debian cron ANDs them (the field starts with ``*``) where most other crons OR them."""
        for field, other in ((self.dom, self.dow), (self.dow, self.dom)):
            if field.text.startswith("*") and not field.every and not other.star:
                return field.text
        return None


def _expand(index: int, part: str) -> set[int]:
    low, high = BOUNDS[index]
    found: set[int] = set()
    for term in part.split(","):
        base, _, step_text = term.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high if index != 4 else 7
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _value(index, first), _value(index, last)
        else:
            start = end = _value(index, base)
        found.update(v % 7 if index == 4 else v for v in range(start, end + 1, step))
    return found


def _value(index: int, atom: str) -> int:
    return _LOOKUP[index][atom] if atom.isalpha() else int(atom)


def runs(values: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted ``values`` as ``(first, last)`` pairs."""
    out: list[tuple[int, int]] = []
    for value in values:
        if out and value == out[-1][1] + 1:
            out[-1] = (out[-1][0], value)
        else:
            out.append((value, value))
    return out
