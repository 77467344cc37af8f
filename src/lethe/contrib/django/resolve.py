"""Datasets by model: ``model = "surveys.Survey"`` resolved to an ordinary table dataset.

Registered with :func:`lethe.config.resolve.register_model_resolver` when the app is ready.
Every name a dataset by model gives is a model or a field; resolving turns them into the
table, key and columns Django maps them to, the hold model into a hold table, a warn phase's
``recipient = { field = "owner" }`` into the foreign key's columns, and the cascade into the
listed edges of :mod:`lethe.contrib.django.graph`. An unknown app label, model or field is one
:class:`~lethe.errors.ConfigError` naming it.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from lethe.config.datasets import DatasetConfig, HoldModel
from lethe.config.model import LetheConfig, PolicyConfig
from lethe.contrib.django import graph
from lethe.errors import ConfigError
from lethe.notify.recipients import Recipient

__all__ = ["get_model", "resolve_config", "resolve_dataset"]


def get_model(name: str, where: str) -> type[models.Model]:
    """The model ``app_label.ModelName``; :class:`ConfigError` for an unknown app or model."""
    label, _, model_name = name.partition(".")
    try:
        app = apps.get_app_config(label)
    except LookupError:
        known = ", ".join(sorted(a.label for a in apps.get_app_configs()))
        raise ConfigError(
            f"no installed app {label!r} (INSTALLED_APPS has: {known})", where
        ) from None
    try:
        return app.get_model(model_name)
    except LookupError:
        known = ", ".join(sorted(m._meta.object_name or "" for m in app.get_models()))
        raise ConfigError(
            f"app {label!r} has no model {model_name!r} (its models: {known})", where
        ) from None


def _field(model: type[models.Model], name: str, where: str) -> models.Field[Any, Any]:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        raise ConfigError(f"{graph.label_of(model)} has no field {name!r}", where) from None
    if not isinstance(field, models.Field) or not field.concrete:
        raise ConfigError(
            f"{graph.label_of(model)}.{name} is no column (a relation's other side)", where
        )
    return field


def _column(model: type[models.Model], name: str, where: str) -> str:
    """The column of ``model``'s own table that field ``name`` is stored in."""
    field = _field(model, name, where)
    concrete = model._meta.concrete_model
    assert concrete is not None
    if field.model._meta.concrete_model is not concrete:
        raise ConfigError(
            f"{graph.label_of(model)}.{name} is stored in {field.model._meta.db_table}, the table "
            f"of its parent model {graph.label_of(field.model)}: make that model the dataset",
            where,
        )
    return str(field.column)


def _date_column(model: type[models.Model], name: str, where: str) -> str:
    """``_column`` for a field a due or an age is read from: it must hold dates, or every row
    would be judged "date unreadable" and kept, with `lethe check` saying nothing."""
    column = _column(model, name, where)
    field = _field(model, name, where)
    if not isinstance(field, models.DateField):  # DateTimeField is a DateField
        raise ConfigError(
            f"{graph.label_of(model)}.{name} is a {type(field).__name__}, not a DateField or "
            "DateTimeField: a due or an age is read from a date",
            where,
        )
    return column


def alias_of(url: str) -> str:
    """The Django database a store's URL names (``django://ALIAS``), else ``default``."""
    if url.lower().startswith("django://"):
        return url[len("django://") :].strip("/") or "default"
    return "default"


def resolve_dataset(dataset: DatasetConfig, where: str, using: str = "default") -> DatasetConfig:
    """``dataset`` (by model) as a table dataset: table, key, columns, holds and cascade."""
    assert dataset.model is not None
    model = get_model(dataset.model, f"{where}.model")
    concrete = model._meta.concrete_model
    assert concrete is not None
    data = dataset.model_dump(by_alias=True, exclude_unset=True)
    data.pop("model")
    table = concrete._meta.db_table
    data["table"] = table
    data["key"] = str(concrete._meta.pk.column)
    for name in ("due_column", "age_column"):
        if name in data:
            data[name] = _date_column(model, data[name], f"{where}.{name}")
    for index, row_filter in enumerate(data.get("where", [])):
        row_filter["column"] = _column(model, row_filter["column"], f"{where}.where[{index}]")
    if dataset.holds is not None:
        data["holds"] = _holds(dataset, f"{where}.holds")
    if dataset.cascade == "auto":
        steps = graph.reachable(table, graph.edges(using))
        data["cascade"] = [s.model_dump(exclude_defaults=True) for s in steps] or "none"
    return DatasetConfig.model_validate(data)


def _holds(dataset: DatasetConfig, where: str) -> dict[str, str]:
    spec = dataset.holds
    assert isinstance(spec, HoldModel)
    model = get_model(spec.model, f"{where}.model")
    hold: dict[str, str] = {
        "table": str(model._meta.db_table),
        "column": _column(model, spec.field, f"{where}.field"),
    }
    if spec.released_field:
        hold["released_column"] = _column(model, spec.released_field, f"{where}.released_field")
    return hold


def _recipient(model: type[models.Model], recipient: Recipient, where: str) -> Recipient:
    assert recipient.field is not None
    field = _field(model, recipient.field, where)
    if not field.is_relation:
        return Recipient(column=_column(model, recipient.field, where))
    related = field.related_model
    assert isinstance(field, models.ForeignKey) and related is not None and related != "self"
    email = _column(related, recipient.email or "email", f"{where}.email")
    return Recipient(
        column=_column(model, recipient.field, where),
        table=str(related._meta.db_table),
        key=str(field.target_field.column),
        email=email,
    )


def _policy(config: LetheConfig, name: str, policy: PolicyConfig, source: str) -> PolicyConfig:
    dataset = config.datasets.get(policy.dataset)
    if dataset is None or dataset.model is None:
        return policy
    model = get_model(dataset.model, f"{source}: datasets.{policy.dataset}.model")
    actions = []
    for index, action in enumerate(policy.actions):
        recipient = getattr(action, "recipient", None)
        if isinstance(recipient, Recipient) and recipient.field is not None:
            where = f"{source}: policies.{name}.actions[{index}].recipient"
            action = action.model_copy(update={"recipient": _recipient(model, recipient, where)})
        actions.append(action)
    return policy.model_copy(update={"actions": actions})


def resolve_config(config: LetheConfig, source: str) -> LetheConfig:
    """``config`` with every dataset by model resolved (the registered model resolver)."""
    policies = {n: _policy(config, n, p, source) for n, p in config.policies.items()}
    datasets = {}
    for name, dataset in config.datasets.items():
        if dataset.model is None:
            datasets[name] = dataset
            continue
        store = config.stores.get(dataset.store or "")
        using = alias_of(store.url) if store is not None else "default"
        datasets[name] = resolve_dataset(dataset, f"{source}: datasets.{name}", using)
    return config.model_copy(update={"datasets": datasets, "policies": policies})
