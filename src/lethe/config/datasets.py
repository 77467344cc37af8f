"""Datasets: which rows a policy looks at, when each is due, and what goes with it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from lethe.config.types import (
    SQL_NAME,
    DurationField,
    FieldName,
    Identifier,
    ModelName,
    SqlName,
)
from lethe.model.conditions import (
    All,
    Before,
    Condition,
    DistinctFrom,
    Equals,
    In,
    IsNull,
    Not,
    NotNull,
    Scalar,
)

__all__ = [
    "CascadeStep",
    "DatasetConfig",
    "FileColumn",
    "HoldModel",
    "HoldTable",
    "Link",
    "OnDelete",
    "RowFilter",
]

#: What a purge does to the rows that reference a deleted row through one foreign key:
#: ``block`` keeps the parent while a referencing row survives the purge, ``protect`` keeps
#: it while any referencing row exists, even one the purge would delete (Django's PROTECT).
OnDelete = Literal["cascade", "set_null", "set_default", "block", "protect"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RowFilter(_Strict):
    """One structured row filter: a column and exactly one test.

    ``{ column = "status", equals = "RUNNING" }``, ``{ column = "deleted_at", is_null = true }``,
    ``{ column = "kind", in = ["a", "b"] }``, ``{ column = "updated_at", older_than = "30d" }``.
    """

    column: FieldName
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    is_null: bool | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    older_than: DurationField | None = None

    @model_validator(mode="after")
    def _exactly_one_test(self) -> RowFilter:
        tests = [
            name
            for name in ("equals", "not_equals", "is_null", "in_", "not_in", "older_than")
            if name in self.model_fields_set
        ]
        if len(tests) != 1:
            raise ValueError(
                "a filter needs exactly one of equals, not_equals, is_null, in, not_in, "
                f"older_than (got {len(tests)})"
            )
        if self.in_ == []:
            raise ValueError("in = [] matches no row: list the values, or remove the filter")
        if self.not_in == []:
            raise ValueError("not_in = [] excludes nothing: write is_null = false instead")
        return self

    def condition(self, as_of: datetime) -> Condition:
        """This filter as a condition evaluated at ``as_of``."""
        fields = self.model_fields_set
        if "equals" in fields:
            return IsNull(self.column) if self.equals is None else Equals(self.column, self.equals)
        if "not_equals" in fields:
            return DistinctFrom(self.column, self.not_equals)
        if "is_null" in fields:
            return IsNull(self.column) if self.is_null else NotNull(self.column)
        if "in_" in fields:
            return In(self.column, tuple(self.in_ or ()))
        if "not_in" in fields:
            return All((NotNull(self.column), Not(In(self.column, tuple(self.not_in or ())))))
        assert self.older_than is not None  # guaranteed by _exactly_one_test
        return Before(self.column, self.older_than.before(as_of))


class CascadeStep(_Strict):
    """A child table whose rows are deleted with (and before) their parent.

    ``columns`` are the child's columns that reference the parent (several when the child
    refers to the parent in more than one role); ``references`` is the parent's column they
    point at (default: the dataset key, or the parent table's key for a deeper step). Against
    a composite key (``references = ["org_id", "id"]``) the columns form one composite
    foreign key, in the same order.

    A step may carry another treatment than ``cascade`` (``on_delete = "set_null"``, …, with
    ``value`` the value ``set_default`` writes instead of the column's declared default), a
    constant condition on the child's rows (``when = { content_type_id = 7 }``: only rows
    with these values reference the parent, as a generic relation's do) and a ``label`` that
    names the edge in ``lethe check`` and in blocked reasons.
    """

    table: SqlName
    columns: list[SqlName] = Field(min_length=1)
    parent: SqlName | None = None
    references: SqlName | list[SqlName] | None = None
    on_delete: OnDelete = "cascade"
    value: Scalar | None = None
    when: dict[SqlName, Scalar] = Field(default_factory=dict)
    label: str = ""

    @model_validator(mode="after")
    def _value_for_set_default(self) -> CascadeStep:
        if self.value is not None and self.on_delete != "set_default":
            raise ValueError('value is what on_delete = "set_default" writes; give it only there')
        return self

    def referenced(self) -> tuple[str, ...]:
        """The parent's columns named by ``references`` (empty: the parent's key)."""
        if self.references is None:
            return ()
        return (self.references,) if isinstance(self.references, str) else tuple(self.references)


class HoldTable(_Strict):
    """The application's own legal-hold table: a row naming the item holds it.

    A hold is active while ``released_column`` (if given) is NULL, e.g. Census' ``LegalHold``
    with ``removed_at``.

    ``column`` names the item's key; against a composite dataset key, ``columns`` names one
    column per key column, in the key's order (``columns = ["org_id", "member_id"]``).
    """

    table: SqlName
    column: SqlName | None = None
    columns: list[SqlName] | None = Field(default=None, min_length=1)
    released_column: SqlName | None = None

    @model_validator(mode="after")
    def _one_key(self) -> HoldTable:
        if (self.column is None) == (self.columns is None):
            raise ValueError("give the hold table's column, or columns for a composite key")
        return self

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The hold table's columns that name an item, in the dataset key's order."""
        return (self.column,) if self.column is not None else tuple(self.columns or ())


class FileColumn(_Strict):
    """A column naming a file (a Django ``FileField``): when a batch deletes a row of
    ``table`` (the dataset's own, or one of its cascade), or blanks this column, the file is
    deleted from ``storage`` after the batch commits (docs/django.md, "Files").

    ``storage`` is a kind of file storage (:mod:`lethe.stores.files`): ``"django"``, the
    storage of the Django field stored in that column.
    ``{ column = "content_file" }``, ``{ table = "surveys_attachment", column = "file" }``.
    """

    column: SqlName
    table: SqlName | None = None
    storage: Identifier = "django"


class HoldModel(_Strict):
    """A dataset by model's hold table, named by model and fields:
    ``{ model = "surveys.LegalHold", field = "survey", released_field = "removed_at" }``
    (resolved to a :class:`HoldTable` on load)."""

    model: ModelName
    field: FieldName
    released_field: FieldName | None = None


def _prefix_list(value: Any) -> Any:
    # ``BLOB_PATH_PREFIXES="uploads/,results/"`` arrives as one string.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


Prefixes = Annotated[list[str], BeforeValidator(_prefix_list), Field(min_length=1)]


class Link(_Strict):
    """An item in another dataset that a row points to, deleted with the row (cross-store).

    A purge deletes a row's linked items first, in the order the links are listed, and the
    row last, so an interruption can leave a row whose item is gone (finished by the next run)
    but never an item whose row is gone.

    ``column`` holds the linked item's key (a blob path, a Redis key), optionally after
    ``prefix``: ``{ dataset = "jobs", column = "job_id", prefix = "job:" }``.
    """

    dataset: Identifier
    column: SqlName
    prefix: str = ""

    def key_for(self, value: Any) -> str | None:
        """The linked item's key for a row's ``column`` value (None: the row links nothing)."""
        return None if value is None or value == "" else f"{self.prefix}{value}"


#: One line of a dataset's records of processing (``category``, ``purpose``, ``legal_basis``).
RecordText = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\r\n]*\S[^\r\n]*$")]


class DatasetConfig(_Strict):
    """Where a dataset's items are, and when each of them is due.

    Exactly one of ``table`` (SQL rows), ``model`` (a framework's model, ``"app.Model"``,
    resolved to its table, key, columns and cascade when the framework is set up; docs/django.md),
    ``prefixes`` (objects under blob prefixes) or ``pattern`` (Redis keys matching a SCAN
    pattern). Give either ``due_column`` (holding the due instant) or ``age_column`` plus
    ``retain``; a blob dataset's age defaults to its objects' ``last_modified``. In a dataset by
    model, columns are named by field.
    """

    store: Identifier | None = None
    table: SqlName | None = None
    model: ModelName | None = None
    prefixes: Prefixes | None = None
    pattern: str | None = Field(default=None, min_length=1)
    db_schema: SqlName | None = Field(default=None, alias="schema")
    #: The primary-key column, or columns (``["org_id", "id"]``) for a composite key.
    key: SqlName | list[SqlName] | None = None
    due_column: FieldName | None = None
    age_column: FieldName | None = None
    retain: DurationField | None = None
    where: list[RowFilter] = Field(default_factory=list)
    cascade: Literal["auto", "none"] | list[CascadeStep] = "auto"
    #: Per foreign key (``"child.column"``, ``"child.col1,col2"``): a treatment that replaces
    #: the one its declared ``ON DELETE`` rule gives.
    on_delete: dict[str, OnDelete] = Field(default_factory=dict)
    #: ``"cascade"``: every ``NO ACTION`` foreign key of the cascade deletes its rows (for
    #: schemas whose application deletes children itself); ``"block"``: they keep the parent.
    no_action: Literal["block", "cascade"] = "block"
    holds: HoldTable | HoldModel | None = None
    links: list[Link] = Field(default_factory=list)
    #: Columns naming files, deleted from their storage once the rows that name them go: a
    #: list, or a storage kind that finds them (``"django"``: every ``FileField`` of the
    #: dataset's table and its cascade; the default of a dataset by model).
    files: list[FileColumn] | Identifier = Field(default_factory=list)
    orphans: Literal["report", "delete"] = "report"
    #: A PostgreSQL table partitioned by range: ``"drop"`` drops a partition whose rows are all
    #: due and unheld whole (docs/partitions.md); ``"rows"`` deletes them row by row.
    partitions: Literal["drop", "rows"] = "drop"
    # Records of processing (GDPR Art. 30(1)(f)), printed by `lethe records`: what the data
    # is, why it is kept and on what basis; free text, one line each.
    category: RecordText | None = None
    purpose: RecordText | None = None
    #: An Art. 6(1) basis (consent, contract, legal_obligation, vital_interests,
    #: public_task, legitimate_interests) or any other text.
    legal_basis: RecordText | None = None
    description: str | None = Field(
        default=None, min_length=1, max_length=500, pattern=r"^[^\r\n]*$"
    )

    @property
    def kind(self) -> Literal["table", "blob", "keys"]:
        """``table`` (SQL), ``blob`` (object prefixes) or ``keys`` (a Redis key pattern)."""
        if self.prefixes is not None:
            return "blob"
        return "keys" if self.pattern is not None else "table"

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The key's columns (one, or several for a composite key)."""
        if self.key is None:
            return ()
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)

    @property
    def hold_table(self) -> HoldTable | None:
        """The application's hold table (None: none, or a hold model not resolved yet)."""
        return self.holds if isinstance(self.holds, HoldTable) else None

    @property
    def age_field(self) -> str | None:
        """The column the age is read from (a blob's ``last_modified`` by default)."""
        if self.age_column is None and self.retain is not None and self.kind == "blob":
            return "last_modified"
        return self.age_column

    @model_validator(mode="after")
    def _one_location(self) -> DatasetConfig:
        places = ("table", "model", "prefixes", "pattern")
        given = [n for n in places if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of table, model, prefixes or pattern")
        if self.model is not None:
            return self._by_model()
        if isinstance(self.holds, HoldModel):
            raise ValueError("holds by model need a dataset by model (model = ...)")
        if self.kind == "table":
            if self.key is None or self.key == []:
                raise ValueError("a table dataset needs key (its primary-key column)")
            self._check_key_arity()
            for name in self._columns():
                if not SQL_NAME.match(name):
                    raise ValueError(f"{name!r} is not a plain SQL identifier (letters, digits, _)")
            return self
        sql_only = {
            "key",
            "db_schema",
            "cascade",
            "holds",
            "links",
            "files",
            "on_delete",
            "no_action",
        } & self.model_fields_set
        if sql_only:
            keys = ", ".join(sorted("schema" if n == "db_schema" else n for n in sql_only))
            raise ValueError(f"{keys}: only for table datasets")
        for prefix in self.prefixes or []:
            # Object stores match prefixes by whole path segments: a prefix is a folder.
            if not prefix.endswith("/") or prefix.startswith("/"):
                raise ValueError(f"prefix {prefix!r} must end with / and not start with one")
            # An object path cannot hold these: the store would refuse the listing mid-run.
            for segment in prefix[:-1].split("/"):
                if segment in ("", ".", "..") or any(ord(c) < 32 or c == "\x7f" for c in segment):
                    raise ValueError(
                        f"prefix {prefix!r} has the segment {segment!r}: an object path has no "
                        "empty, . or .. segment and no control character"
                    )
            if any(p != prefix and p.startswith(prefix) for p in self.prefixes or []):
                raise ValueError(f"prefix {prefix!r} overlaps another prefix")
        return self

    @model_validator(mode="before")
    @classmethod
    def _model_files(cls, data: Any) -> Any:
        # A model's FileFields are its files: a dataset by model deletes them unless it says
        # otherwise (Django itself leaves them behind).
        if isinstance(data, dict) and data.get("model") is not None and "files" not in data:
            return {**data, "files": "django"}
        return data

    def _by_model(self) -> DatasetConfig:
        # The model's own rules say what goes with a row: its table, key and on_delete.
        given = {"key", "db_schema", "on_delete", "no_action"} & self.model_fields_set
        if isinstance(self.cascade, list):
            given.add("cascade")
        if given:
            keys = ", ".join(sorted("schema" if n == "db_schema" else n for n in given))
            raise ValueError(
                f"{keys}: not for a dataset by model (its key and on_delete come from the model)"
            )
        if isinstance(self.holds, HoldTable):
            raise ValueError("a dataset by model names its hold table by model and field")
        return self

    @model_validator(mode="after")
    def _overrides_need_a_cascade(self) -> DatasetConfig:
        if self.cascade == "none" and (self.on_delete or self.no_action == "cascade"):
            raise ValueError('on_delete and no_action need cascade = "auto" or a list, not "none"')
        return self

    def _check_key_arity(self) -> None:
        """The hold table names every column of the key (a cascade step's ``references``
        is checked against the reflected tables, where its parent is known)."""
        key = self.key_columns
        if len(set(key)) != len(key):
            raise ValueError(f"key names a column twice: {list(key)}")
        holds = self.hold_table
        if holds is not None and len(holds.key_columns) != len(key):
            raise ValueError(
                f"holds names {len(holds.key_columns)} column(s) for a key of "
                f"{len(key)} ({', '.join(key)}): give "
                + ("column" if len(key) == 1 else f"columns = [{len(key)} names]")
            )

    def _columns(self) -> list[str]:
        named = [self.due_column, self.age_column, *(f.column for f in self.where)]
        return [name for name in named if name is not None]

    @model_validator(mode="after")
    def _one_due_rule(self) -> DatasetConfig:
        if self.due_column and (self.age_column or self.retain):
            raise ValueError("give either due_column, or age_column with retain, not both")
        if not self.due_column and not (self.age_field and self.retain):
            raise ValueError("say when rows are due: due_column, or age_column with retain")
        return self

    def due(self, as_of: datetime) -> Condition:
        """The condition "due at ``as_of``": the due instant has passed (inclusive)."""
        if self.due_column:
            return Before(self.due_column, as_of)
        assert self.age_field is not None and self.retain is not None  # by _one_due_rule
        return Before(self.age_field, self.retain.before(as_of))

    def filters(self, as_of: datetime) -> Condition:
        """The dataset's row filters, all of them, at ``as_of``."""
        return All(tuple(f.condition(as_of) for f in self.where))
