"""Everything a run needs, wired from a policy file: stores, state, ledger, holds, run log."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from lethe.actions import Action, PhaseContext
from lethe.config.checks import phase_context
from lethe.config.datasets import DatasetConfig
from lethe.config.loader import Settings
from lethe.config.model import PolicyConfig
from lethe.errors import ConfigError
from lethe.evidence.anchoring import AnchorCheck, check_anchors, probe_anchors, publish_pending
from lethe.evidence.signing import load_signer
from lethe.holds.registry import HoldRegistry
from lethe.model.conditions import All, Condition, columns_of
from lethe.model.keys import ItemKey
from lethe.schedule.clock import Clock
from lethe.state.anchors import AnchorLog
from lethe.state.approvals import ApprovalLog
from lethe.state.batches import BatchLog
from lethe.state.db import StateDB
from lethe.state.files import FileLedger
from lethe.state.ledger import Ledger
from lethe.state.runs import RunLog
from lethe.stores.base import DatasetHandle, Store
from lethe.stores.links import LinkedItems
from lethe.stores.registry import open_store

__all__ = ["Runtime", "Target"]


@dataclass(frozen=True)
class Target:
    """A policy bound to its dataset's live handle."""

    policy: str
    config: PolicyConfig
    dataset: str
    dataset_config: DatasetConfig
    handle: DatasetHandle
    settings: Settings
    state: StateDB | None = None
    links: tuple[LinkedItems, ...] = ()
    registry: HoldRegistry | None = None

    @property
    def actions(self) -> list[Action]:
        return list(self.config.actions)

    def context(self, as_of: datetime) -> PhaseContext:
        """The phases' context at ``as_of``."""
        ctx = phase_context(self.settings.config, self.policy, as_of)
        return replace(
            ctx,
            state=self.state,
            links=self.links,
            base_dir=self.settings.base_dir,
            held=self.held_keys,
        )

    def held_keys(self, keys: Sequence[str]) -> AbstractSet[str]:
        """Which of ``keys`` (of this dataset) lethe's hold registry holds now."""
        if self.registry is None:
            return set()
        return self.registry.active_keys(self.dataset, keys)

    def blocked(self, index: int, keys: Sequence[ItemKey], as_of: datetime) -> dict[str, str]:
        """Items of phase ``index`` that another phase of the policy holds back, with why."""
        if not keys:
            return {}
        action, ctx = self.config.actions[index], self.context(as_of)
        reasons: dict[str, str] = {}
        for other_index, other in enumerate(self.config.actions):
            if other_index != index:
                for key, why in other.guard(action, keys, ctx).items():
                    reasons.setdefault(key, why)
        return reasons

    def context_probe(self) -> datetime:
        """Any instant, for questions about which columns a phase reads."""
        return datetime.now().astimezone()

    def selection(self, index: int, as_of: datetime) -> Condition:
        """What phase ``index`` selects at ``as_of``: dataset filters plus the phase's own rule."""
        action = self.config.actions[index]
        return All((self.dataset_config.filters(as_of), action.selection(self.context(as_of))))


class Runtime:
    """Opens stores lazily and owns the state database for one process."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.config = settings.config
        try:
            self.state = StateDB(settings.state_url, clock)
            self.state.signer = load_signer(self.config.evidence, settings.env)
        except ConfigError as exc:
            raise self.located(exc) from None
        self.ledger = Ledger(self.state)
        self.holds = HoldRegistry(self.state, self.ledger)
        tables = {name: ds.table or name for name, ds in self.config.datasets.items()}
        self.runs = RunLog(self.state, settings.runs_dir, self._record_sink(), tables)
        self.batches = BatchLog(self.state, self.ledger)
        self.files = FileLedger(self.state, self.ledger)
        self.approvals = ApprovalLog(self.state, self.ledger)
        self.anchors = AnchorLog(self.state)
        self._stores: dict[str, Store] = {}

    def _record_sink(self) -> Callable[[str, dict[str, Any]], None] | None:
        """Where run records also go (``state.records``), if anywhere."""
        records = self.config.state.records
        if records is None:
            return None

        def keep(run_id: str, document: dict[str, Any]) -> None:
            self.store(records.store).write_document(f"{records.prefix}{run_id}.json", document)

        return keep

    def publish_heads(self) -> list[str]:
        """Publish the run heads each configured anchor lacks; one warning per anchor that
        failed (:func:`lethe.evidence.anchoring.publish_pending`)."""
        configs = self.config.evidence.anchors
        if not configs:
            return []
        env = os.environ if self.settings.env is None else self.settings.env
        return publish_pending(configs, self.settings.base_dir, env, self.anchors)

    def check_anchors(self) -> AnchorCheck:
        """What ``lethe audit verify`` finds at the configured anchors."""
        env = os.environ if self.settings.env is None else self.settings.env
        return check_anchors(
            self.config.evidence.anchors, self.settings.base_dir, env, self.anchors
        )

    def probe_anchors(self) -> list[tuple[str, str]]:
        """What ``lethe check`` says of each configured anchor (``(level, message)``)."""
        env = os.environ if self.settings.env is None else self.settings.env
        return probe_anchors(self.config.evidence.anchors, self.settings.base_dir, env)

    def store(self, name: str) -> Store:
        """The named store, opened on first use."""
        if name not in self._stores:
            try:
                self._stores[name] = open_store(name, self.settings.store_url(name))
            except ConfigError as exc:
                raise self.located(exc) from None
        return self._stores[name]

    def located(self, exc: ConfigError) -> ConfigError:
        """``exc`` naming the policy file before its key (``lethe.toml: stores.app.url``):
        stores know their key, not the file they were read from."""
        source = self.settings.source
        if exc.where and exc.where.startswith(source):
            return exc
        return type(exc)(exc.message, f"{source}: {exc.where}" if exc.where else source)

    def dataset(self, name: str) -> DatasetHandle:
        """A dataset's live handle (reflects its tables on first use)."""
        if name not in self.config.datasets:
            known = ", ".join(sorted(self.config.datasets)) or "none"
            raise ConfigError(f"unknown dataset {name!r} (datasets: {known})")
        config = self.config.datasets[name]
        assert config.store is not None  # cross_check guarantees it
        try:
            return self.store(config.store).bind(name, config)
        except ConfigError as exc:
            raise self.located(exc) from None

    def target(self, policy: str) -> Target:
        """A policy bound and validated against its live store (columns exist)."""
        if policy not in self.config.policies:
            known = ", ".join(sorted(self.config.policies)) or "none"
            raise ConfigError(f"unknown policy {policy!r} (policies: {known})")
        config = self.config.policies[policy]
        handle = self.dataset(config.dataset)
        target = Target(
            policy,
            config,
            config.dataset,
            self.config.datasets[config.dataset],
            handle,
            self.settings,
            self.state,
            tuple(
                LinkedItems(link.dataset, link, handle, self.dataset(link.dataset))
                for link in self.config.datasets[config.dataset].links
            ),
            self.holds,
        )
        probe = datetime.now().astimezone()
        for index, action in enumerate(config.actions):
            needed = columns_of(target.selection(index, probe)) | action.writes() | action.reads()
            where = f"{self.settings.source}: policies.{policy}.actions[{index}]"
            try:
                handle.require_columns(needed)
                action.bind(handle, target.context(probe))
            except ConfigError as exc:
                raise type(exc)(exc.message, where) from None
        return target

    def targets(self, policies: Sequence[str] | None = None) -> list[Target]:
        """The named policies (all enabled ones when none are named), bound and validated."""
        names = (
            list(policies)
            if policies
            else [name for name, policy in self.config.policies.items() if policy.enabled]
        )
        if not names:
            raise ConfigError(f"{self.settings.source}: no policies to run")
        return [self.target(name) for name in names]

    def close(self) -> None:
        """Release every connection."""
        for store in self._stores.values():
            store.close()
        self.state.dispose()
