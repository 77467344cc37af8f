"""Who receives an item's warning: a column of the row, a column reached through a foreign key,
or one fixed address."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from lethe.config.types import FieldName, SqlName
from lethe.errors import LiveCheckError
from lethe.model.keys import ItemKey, key_text
from lethe.stores.base import DatasetHandle, RelatedLookup

__all__ = ["Recipient"]


class Recipient(BaseModel):
    """``recipient`` of a warn phase, one of::

        recipient = { column = "contact_email" }                  # the row's own column
        recipient = { column = "owner_id", table = "auth_user", key = "id", email = "email" }
        recipient = { to = "dpo@example.org" }                     # everything to one address
        recipient = { field = "owner" }          # a dataset by model: through a foreign key field

    Through a foreign key: the row's ``column`` holds the ``key`` of a row of ``table``, whose
    ``email`` column holds the address (for a webhook, any text the receiver understands). In a
    dataset by model, ``field`` names the model's field (a foreign key, or the address itself)
    and ``email`` the related model's field (default ``email``); loading resolves both to
    columns.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: SqlName | None = None
    table: SqlName | None = None
    key: SqlName = "id"
    email: SqlName | None = None
    to: str | None = None
    field: FieldName | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Recipient:
        if self.field is not None:
            if self.column or self.table or self.to or "key" in self.model_fields_set:
                raise ValueError("field names a model's field: give no column, table, key or to")
            return self
        if (self.column is None) == (self.to is None):
            raise ValueError("give either column (optionally with table and email) or to")
        if (self.table is None) != (self.email is None):
            raise ValueError("table and email go together: the address is table.email")
        if self.to is not None and (self.table or "key" in self.model_fields_set):
            raise ValueError("a fixed recipient (to) takes no table or key")
        if self.to is not None and not self.to.strip():
            raise ValueError("to is empty")
        return self

    def columns(self) -> set[str]:
        """Columns of the dataset's own table this reads."""
        return {self.column} if self.column else set()

    def related(self) -> dict[str, set[str]]:
        """Columns of other tables this reads, by table."""
        if self.table and self.email:
            return {self.table: {self.key, self.email}}
        return {}

    def check(self, handle: DatasetHandle) -> None:
        """Raise :class:`LiveCheckError` unless the store can resolve this recipient."""
        if self.table is None:
            return
        if not isinstance(handle, RelatedLookup):
            raise LiveCheckError(
                f"this store cannot follow {self.column} to {self.table}; use a column or to"
            )
        assert self.email is not None  # by _one_form
        handle.check_related(self.table, {self.key, self.email})

    def resolve(
        self, handle: DatasetHandle, keys: Sequence[ItemKey], rows: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, str | None]:
        """The address of each item (None when its row has none)."""
        if self.to is not None:
            return {key_text(k): self.to.strip() for k in keys}
        assert self.column is not None  # by _one_form
        if self.table is None:
            values = {key_text(k): rows.get(key_text(k), {}).get(self.column) for k in keys}
        else:
            if not isinstance(handle, RelatedLookup):
                raise LiveCheckError(f"this store cannot follow {self.column} to {self.table}")
            assert self.email is not None
            values = handle.lookup_related(keys, self.column, self.table, self.key, self.email)
        return {k: _address(values.get(k)) for k in (key_text(x) for x in keys)}


def _address(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None
