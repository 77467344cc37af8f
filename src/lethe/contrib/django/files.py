"""``storage = "django"``: a column's files live in the storage of the Django field stored there.

For a ``FileField``/``ImageField`` the storage is the field's own (``field.storage``: the
``default`` of ``STORAGES`` unless the field names another), so lethe deletes a file exactly
where the application wrote it, through the same backend (local disk, S3 through
django-storages, …). :func:`file_columns` lists a model's file fields as policy entries.
"""

from __future__ import annotations

from collections.abc import Sequence

from lethe.config.datasets import FileColumn
from lethe.errors import ConfigError

__all__ = ["DjangoFieldStorage", "file_columns"]


def _file_fields() -> dict[tuple[str, str], object]:
    """``(db_table, column) → FileField`` over every installed model."""
    from django.apps import apps
    from django.core.exceptions import AppRegistryNotReady
    from django.db.models import FileField

    try:
        models = apps.get_models()
    except AppRegistryNotReady:
        raise ConfigError(
            'file storage "django" needs Django set up: run lethe as `python manage.py lethe`'
        ) from None
    return {
        (model._meta.db_table, field.column): field
        for model in models
        for field in model._meta.concrete_fields
        if isinstance(field, FileField)
    }


class DjangoFieldStorage:
    """Deletes files through the storage of the ``FileField`` stored in ``table.column``."""

    def __init__(self) -> None:
        self._fields = _file_fields()

    def check(self, table: str, column: str) -> str | None:
        """None when an installed model keeps a ``FileField`` in ``table.column``."""
        if (table, column) in self._fields:
            return None
        return f"no installed model has a FileField in {table}.{column}"

    def discover(self, tables: Sequence[str]) -> list[tuple[str, str]]:
        """Every ``FileField``/``ImageField`` column of the models stored in ``tables``."""
        wanted = set(tables)
        return sorted(key for key in self._fields if key[0] in wanted)

    def delete(self, table: str, column: str, names: Sequence[str]) -> dict[str, str]:
        """Delete each file; Django's storages treat a missing file as deleted."""
        field = self._fields.get((table, column))
        if field is None:
            return dict.fromkeys(names, str(self.check(table, column)))
        storage = field.storage  # type: ignore[attr-defined]
        failed: dict[str, str] = {}
        for name in names:
            try:
                storage.delete(name)
            except Exception as exc:  # any backend's error: the file stays in the ledger
                failed[name] = f"{type(exc).__name__}: {exc}"
        return failed


def file_columns(model: type[object]) -> list[FileColumn]:
    """The ``files`` entries of a model's file fields, for its dataset or its cascade."""
    from django.db.models import FileField, Model

    if not (isinstance(model, type) and issubclass(model, Model)):
        raise ConfigError(f"{model!r} is not a Django model")
    table = model._meta.db_table
    return [
        FileColumn(table=table, column=field.column, storage="django")
        for field in model._meta.concrete_fields
        if isinstance(field, FileField)
    ]
