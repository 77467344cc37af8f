"""Django's deletion graph, read from ``_meta``, as lethe cascade steps with their treatments.

Django keeps ``on_delete`` in Python: every foreign key it creates is ``NO ACTION`` in the
database. This module reads each model's fields and turns Django's rules (as
``django/db/models/deletion.py`` applies them) into listed edges that lethe's engine runs:

==========================  ==============  ==============================================
Django                      lethe treatment  why
==========================  ==============  ==============================================
``CASCADE``                 cascade          the row goes with its parent
``SET_NULL``                set_null         the column is set NULL
``SET_DEFAULT``             set_default      the field's default (``get_default()``)
``SET(value)``              set_default      ``value``; a callable is called once per load
``PROTECT``                 protect          any referencing row keeps the parent, even one
                                             deleted through another path (ProtectedError)
``RESTRICT``                block            kept unless the row goes with the same parent
                                             through a CASCADE (RestrictedError otherwise)
``DO_NOTHING``              block / none     the database's foreign key would refuse the
                                             delete; with ``db_constraint=False``, no edge
``GenericRelation``         cascade          rows with the model's content type and key
multi-table inheritance     cascade (both)   a child's row takes its parent-table row
==========================  ==============  ==============================================

Auto-created many-to-many through tables are models with two ``CASCADE`` keys; proxy models
share their concrete model's table; a ``ForeignKey("self")`` is a self-referencing edge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.fields import GenericRelation
from django.db import DatabaseError, connections, models

from lethe.config.datasets import CascadeStep
from lethe.errors import ConfigError

__all__ = ["DjangoEdge", "edges", "label_of", "reachable", "treatment"]

_RULES: dict[Any, tuple[str, str]] = {
    models.CASCADE: ("cascade", "CASCADE"),
    models.PROTECT: ("protect", "PROTECT"),
    models.RESTRICT: ("block", "RESTRICT"),
    models.SET_NULL: ("set_null", "SET_NULL"),
}


@dataclass(frozen=True)
class DjangoEdge:
    """One edge of the graph: the lethe step, and the table whose rows it follows from.

    ``later`` computes the value of a ``SET(callable)`` edge: called only for the edges a
    dataset's purge meets, once per resolution (so once per run).
    """

    parent_table: str
    step: CascadeStep
    later: Callable[[], tuple[str, Any, str]] | None = None

    def resolved(self) -> CascadeStep:
        """The step, with a ``SET(callable)``'s value computed now."""
        if self.later is None:
            return self.step
        kind, value, _rule = self.later()
        return self.step.model_copy(update={"on_delete": kind, "value": value})


def label_of(model: type[models.Model]) -> str:
    """``app_label.ModelName``."""
    return f"{model._meta.app_label}.{model._meta.object_name}"


def _concrete(model: Any) -> type[models.Model]:
    concrete: type[models.Model] = model._meta.concrete_model
    return concrete


Found = tuple[str, Any, str] | Callable[[], tuple[str, Any, str]]


def treatment(field: models.ForeignKey[Any, Any], using: str) -> Found | None:
    """(treatment, value, Django's rule) of one foreign key, or a function computing them
    (``SET(callable)``); None when lethe leaves its rows alone (``DO_NOTHING`` without a
    database constraint)."""
    on_delete = field.remote_field.on_delete
    where = f"{label_of(field.model)}.{field.name}"
    if on_delete in _RULES:
        kind, rule = _RULES[on_delete]
        return kind, None, rule
    if on_delete is models.DO_NOTHING:
        constrained = getattr(field, "db_constraint", True)
        return ("block", None, "DO_NOTHING") if constrained else None
    if on_delete is models.SET_DEFAULT:
        return _set(field, field.get_default(), "SET_DEFAULT", using)
    deconstruct = getattr(on_delete, "deconstruct", None)
    if deconstruct is not None and deconstruct()[0] == "django.db.models.SET":
        value = deconstruct()[1][0]
        if not callable(value):
            return _set(field, value, "SET", using)
        # Django calls it per delete(); lethe once per policy load (docs/django.md).
        return lambda: _set(field, _call(value, where), "SET", using)
    raise ConfigError(
        f"{where} has an on_delete lethe cannot follow ({getattr(on_delete, '__name__', on_delete)}"
        "); use one of Django's: CASCADE, PROTECT, RESTRICT, SET_NULL, SET_DEFAULT, SET, "
        "DO_NOTHING"
    )


def _call(value: Callable[[], Any], where: str) -> Any:
    try:
        return value()
    except Exception as exc:  # the application's function: any failure is its message
        name = getattr(value, "__name__", "value")
        raise ConfigError(f"{where}: SET({name}) failed: {type(exc).__name__}: {exc}") from None


def _set(field: Any, value: Any, rule: str, using: str) -> tuple[str, Any, str]:
    if isinstance(value, models.Model):
        value = getattr(value, field.target_field.attname)
    if value is None:
        return "set_null", None, rule
    prepared = field.target_field.get_db_prep_save(value, connections[using])
    if not isinstance(prepared, str | int | float | bool):
        prepared = str(prepared)
    return "set_default", prepared, rule


def _foreign_keys(using: str) -> Iterator[DjangoEdge]:
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy:
            continue
        for field in model._meta.local_fields:
            if not (field.is_relation and field.concrete and field.related_model):
                continue
            if not (field.many_to_one or field.one_to_one):
                continue
            assert isinstance(field, models.ForeignKey)  # OneToOneField is one too
            found = treatment(field, using)
            parent = _concrete(field.related_model)
            if found is not None:
                later = found if callable(found) else None
                kind, value, rule = ("set_default", None, "SET") if callable(found) else found
                yield DjangoEdge(
                    parent._meta.db_table,
                    CascadeStep(
                        table=model._meta.db_table,
                        columns=[field.column],
                        parent=parent._meta.db_table,
                        references=field.target_field.column,
                        on_delete=kind,
                        value=value,
                        label=f"{label_of(model)}.{field.name} {rule}",
                    ),
                    later,
                )
            if getattr(field.remote_field, "parent_link", False):
                # Deleting a multi-table child deletes its row in the parent's table too.
                yield DjangoEdge(
                    model._meta.db_table,
                    CascadeStep(
                        table=parent._meta.db_table,
                        columns=[field.target_field.column],
                        parent=model._meta.db_table,
                        references=field.column,
                        label=f"{label_of(parent)} parent row of {label_of(model)}",
                    ),
                )


def _generic(using: str) -> Iterator[DjangoEdge]:
    from django.contrib.contenttypes.models import ContentType

    for model in apps.get_models():
        for field in model._meta.private_fields:
            if not isinstance(field, GenericRelation) or getattr(field, "mti_inherited", False):
                continue
            owner = _concrete(model) if field.for_concrete_model else model
            try:
                found = ContentType.objects.db_manager(using).filter(
                    app_label=owner._meta.app_label, model=owner._meta.model_name
                )
                ids = list(found.values_list("id", flat=True))
            except DatabaseError as exc:
                raise ConfigError(
                    f"cannot read Django's content types on {using!r} (migrated?): {exc}"
                ) from None
            if not ids:
                continue  # no row can point at a content type that does not exist
            child = _concrete(field.related_model)
            object_id = child._meta.get_field(field.object_id_field_name)
            content_type = child._meta.get_field(field.content_type_field_name)
            yield DjangoEdge(
                model._meta.db_table,
                CascadeStep(
                    table=child._meta.db_table,
                    columns=[object_id.column],  # type: ignore[union-attr]
                    parent=model._meta.db_table,
                    references=model._meta.pk.column,
                    when={content_type.column: ids[0]},  # type: ignore[union-attr]
                    label=f"{label_of(model)}.{field.name} GenericRelation",
                ),
            )


def edges(using: str) -> list[DjangoEdge]:
    """Every edge of the project's models (foreign keys, parent links, generic relations)."""
    return [*_foreign_keys(using), *_generic(using)]


def reachable(root_table: str, graph: list[DjangoEdge]) -> list[CascadeStep]:
    """The steps a delete of ``root_table``'s rows meets: every edge whose parent is the root
    or a table reached from it through cascade edges, in discovery order."""
    members = [root_table]
    found: list[CascadeStep] = []
    index = 0
    while index < len(members):
        table = members[index]
        index += 1
        for edge in graph:
            if edge.parent_table != table:
                continue
            found.append(edge.resolved())
            if edge.step.on_delete == "cascade" and edge.step.table not in members:
                members.append(edge.step.table)
    return found
