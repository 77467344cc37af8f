"""Five-field cron as the platforms that speak it read it: Kubernetes, GitHub Actions, Cloud
Scheduler, pg_cron, Northflank, Debian cron.

They differ in small ways that break schedules silently: Kubernetes rejects ``7`` for Sunday,
Northflank accepts neither names nor ``*/n``, and only Debian cron ANDs the day fields when one
of them is written ``*/n``. Every field is rendered from the set of values lethe computes with,
so the translation is exact or refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from lethe.deploy.dialects.base import Unsupported, compress
from lethe.deploy.fields import MONTH_NAMES, WEEKDAY_NAMES, CronField, CronFields

__all__ = ["CronDialect"]


@dataclass(frozen=True)
class CronDialect:
    """How one platform writes cron.

    ``names``: JAN…DEC and SUN…SAT are accepted (and used, for readability); ``steps``: ``*/n``
    and ``a-b/n`` are accepted; ``debian_days``: the platform is Debian cron itself, so a day
    field written ``*/n`` keeps Debian's AND rule.
    """

    platform: str
    names: bool = True
    steps: bool = True
    debian_days: bool = False

    def translate(self, fields: CronFields) -> str:
        """The expression in this dialect, or :class:`Unsupported`."""
        odd = fields.star_step_days
        if odd and not self.debian_days:
            raise Unsupported(
                f"{self.platform} would OR day-of-month and day-of-week where Debian cron ANDs "
                f"them (the field '{odd}' starts with '*'); write the days out"
            )
        parts = (fields.minute, fields.hour, fields.dom, fields.month, fields.dow)
        return " ".join(self._field(field) for field in parts)

    def _field(self, field: CronField) -> str:
        if field.star:
            return "*"
        plain = not any(c.isalpha() for c in field.text) and not (
            field.index == 4 and "7" in field.text
        )
        if self.steps and "/" in field.text and plain:
            return field.text
        if field.index == 3 and self.names:
            return compress(field.sorted(), lambda v: MONTH_NAMES[v - 1])
        if field.index == 4 and self.names:
            return compress(field.sorted(), lambda v: WEEKDAY_NAMES[v])
        return compress(field.sorted())
