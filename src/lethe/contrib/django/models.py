"""lethe's holds and runs as Django models, for the admin: unmanaged (lethe creates and
migrates its own ``lethe_*`` tables; ``manage.py migrate`` never touches them) and read from
the database alias ``state.url = "django://ALIAS"`` names. Writes go through lethe's API
(:mod:`lethe.contrib.django.admin`), so every hold placed or released is in the audit trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import models

__all__ = ["Hold", "Run", "StateJSONField"]

if TYPE_CHECKING:  # generic only in django-stubs
    _Manager = models.Manager[Any]
else:
    _Manager = models.Manager


class StateJSONField(models.JSONField):
    """lethe's JSON columns: ``json`` on PostgreSQL, which psycopg hands over already
    decoded (Django's own field expects the text it gets for ``jsonb``); text on SQLite."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if isinstance(value, dict | list):
            return value
        return super().from_db_value(value, expression, connection)


class _StateManager(_Manager):
    """Queries go to the alias lethe's state lives in."""

    def get_queryset(self) -> models.QuerySet[Any]:
        from lethe.contrib.django.state import state_alias

        return super().get_queryset().using(state_alias())


class Hold(models.Model):
    """A hold of lethe's registry; released ones stay as its history."""

    id: models.AutoField[int, int] = models.AutoField(primary_key=True)
    dataset: models.CharField[str, str] = models.CharField(max_length=128)
    item_key: models.TextField[str, str] = models.TextField("key")
    reason: models.TextField[str, str] = models.TextField()
    placed_by: models.CharField[str, str] = models.CharField(max_length=256)
    placed_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    released_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    released_by: models.CharField[str | None, str | None] = models.CharField(
        max_length=256, null=True, blank=True
    )
    release_reason: models.TextField[str | None, str | None] = models.TextField(
        null=True, blank=True
    )

    objects = _StateManager()

    class Meta:
        managed = False
        db_table = "lethe_holds"
        ordering = ("-placed_at", "-id")
        verbose_name = "hold"

    def __str__(self) -> str:
        return f"#{self.id} {self.dataset} {self.item_key}"

    @property
    def active(self) -> bool:
        return self.released_at is None


class Run(models.Model):
    """A recorded run (real or dry) with its counts and errors, read-only."""

    id: models.CharField[str, str] = models.CharField(max_length=64, primary_key=True)
    policies: StateJSONField = StateJSONField()
    dry_run: models.BooleanField[bool, bool] = models.BooleanField()
    as_of: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    started_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    completed_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True
    )
    status: models.CharField[str, str] = models.CharField(max_length=16)
    record: StateJSONField = StateJSONField(null=True)

    objects = _StateManager()

    class Meta:
        managed = False
        db_table = "lethe_runs"
        ordering = ("-started_at",)
        verbose_name = "run"

    def __str__(self) -> str:
        return str(self.id)

    def phases(self) -> list[dict[str, Any]]:
        return list((self.record or {}).get("phases", []))

    def errors(self) -> list[str]:
        return [str(e) for e in (self.record or {}).get("errors", [])]

    def acted(self) -> int:
        """Items the run's phases acted on (deleted, updated, warned …)."""
        return sum(int(p.get("acted", 0)) for p in self.phases())
