"""A blob store: ``file:///srv/storage``, ``s3://bucket/base``, ``gs://bucket``, ``az://container``.

Options of the backend go in the URL's query (``s3://bucket?endpoint=http://127.0.0.1:9000&
region=eu-west-1&allow_http=true``); credentials come from the backend's usual environment
variables (``AWS_ACCESS_KEY_ID``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_…``), never
from the policy file. A ``file://`` path that is relative is taken from the policy file's
directory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import obstore
from obstore.store import LocalStore, ObjectStore, from_url

from lethe import secrets
from lethe.config.datasets import DatasetConfig
from lethe.errors import ConfigError
from lethe.stores.base import DatasetUse, Finding
from lethe.stores.blob.dataset import BlobDataset
from lethe.stores.blob.errors import first_line, translate
from lethe.stores.blob.grants import grant_lines
from lethe.stores.blob.local import LocalDataset

__all__ = ["BlobStore"]

_CLIENT_OPTIONS = {"allow_http", "allow_invalid_certificates", "timeout", "connect_timeout"}


def _open(url: str, where: str) -> tuple[ObjectStore, str | None]:
    """The store, and the root directory when it is a local one."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        root = url[len("file://") :] or "."
        return LocalStore(root, automatic_cleanup=True), root
    options = dict(parse_qsl(parts.query))
    secrets.register_url(url)  # a key or token given as a query option
    client: dict[str, Any] = {
        k: v.lower() == "true" if v.lower() in ("true", "false") else v
        for k, v in options.items()
        if k in _CLIENT_OPTIONS
    }
    config = {k: v for k, v in options.items() if k not in _CLIENT_OPTIONS}
    bare = parts._replace(query="").geturl()
    try:
        settings: dict[str, Any] = {"config": config or None, "client_options": client or None}
        store = from_url(bare, **settings)
    except Exception as exc:
        raise ConfigError(f"cannot use {secrets.scrub(url)}: {first_line(exc)}", where) from exc
    return store, None


class BlobStore:
    """Objects in a local directory or a bucket, through obstore."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.label = f"store {name} ({secrets.scrub(url.split('?', 1)[0])})"
        self.store, self.root = _open(url, f"stores.{name}.url")
        self._bound: dict[str, BlobDataset] = {}

    def bind(self, dataset: str, config: DatasetConfig) -> BlobDataset:
        """The dataset's handle; a blob store serves datasets given by ``prefixes``.

        A local directory's datasets walk it with ``os.scandir`` (:mod:`lethe.stores.blob.local`)
        rather than through obstore: the same objects, several times faster.
        """
        if config.kind != "blob":
            raise ConfigError(
                f"{self.label} holds objects: give prefixes, not table or pattern",
                f"datasets.{dataset}",
            )
        if dataset not in self._bound:
            if self.root is not None:
                handle: BlobDataset = LocalDataset(
                    dataset, config, self.store, self.root, self.label
                )
            else:
                handle = BlobDataset(dataset, config, self.store, False, self.label)
            self._bound[dataset] = handle
        return self._bound[dataset]

    def check(self, dataset: str, config: DatasetConfig) -> list[Finding]:
        """Each prefix can be listed (one page)."""
        handle = self.bind(dataset, config)
        findings = []
        for prefix in handle.prefixes:
            with translate(self.label):
                next(iter(obstore.list(self.store, prefix, chunk_size=10)), [])
            findings.append(Finding("ok", dataset, f"{self.label}: {prefix} can be listed"))
        return findings

    def grants(self, uses: Sequence[DatasetUse], role: str) -> list[str]:
        """The IAM policy (or its equivalent) for exactly the prefixes the policies use."""
        handles = [(self.bind(use.dataset, use.config), use) for use in uses if use.config]
        records = sorted(p for use in uses if use.config is None for p in use.writes)
        return grant_lines(self.url, handles, records, role)

    def write_document(self, path: str, document: Mapping[str, Any]) -> None:
        """Store ``document`` as JSON at ``path`` (a run record under the audit prefix)."""
        body = (json.dumps(document, indent=2) + "\n").encode()
        with translate(self.label):
            obstore.put(self.store, path, body)

    def close(self) -> None:
        """Nothing to release: obstore's clients close with the object."""
