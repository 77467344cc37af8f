"""``type = "s3"``: one object per run head in an S3-compatible bucket, under Object Lock.

Each head is ``<prefix><run_id>.json``, written only if no object has that key yet
(``If-None-Match: *``). With ``lock_mode`` and ``lock_days`` every object is put under S3
Object Lock retention (``GOVERNANCE`` or ``COMPLIANCE``; the bucket must have been created with
Object Lock enabled), so until it expires no one, the bucket's owner included in
``COMPLIANCE`` mode, can delete or overwrite that version. Reading back lists every version:
an object written again or hidden by a delete marker is reported, and the first version is
the head that counts. Credentials come from the usual AWS environment variables or profile
(boto3's chain), never from the policy file; ``endpoint`` points at MinIO, Ceph, moto….
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from lethe import secrets
from lethe.evidence.anchors.base import AnchorConfig, AnchorError, Head, Reading
from lethe.evidence.anchors.registry import register

__all__ = ["S3Anchor", "S3AnchorConfig"]


@register("s3")
class S3AnchorConfig(AnchorConfig):
    """Keep each run head as an object in ``bucket``::

    [[evidence.anchors]]
    type = "s3"
    bucket = "acme-lethe-anchors"
    prefix = "census/"
    lock_mode = "COMPLIANCE"      # with lock_days: S3 Object Lock retention per object
    lock_days = 400
    """

    type: Literal["s3"] = "s3"
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field(default="lethe-heads/", max_length=512)
    endpoint: str | None = None
    region: str | None = None
    lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] | None = None
    lock_days: int | None = Field(default=None, ge=1, le=36500)

    @model_validator(mode="after")
    def _lock_together(self) -> S3AnchorConfig:
        if (self.lock_mode is None) != (self.lock_days is None):
            raise ValueError("give lock_mode and lock_days together (or neither)")
        return self

    def build(self, base_dir: Path, env: Mapping[str, str]) -> S3Anchor:
        return S3Anchor(self)


class S3Anchor:
    """A bucket prefix written through boto3 (imported when first used: it is large)."""

    def __init__(self, config: S3AnchorConfig) -> None:
        self.config = config
        self.name = config.label
        self._client: Any = None

    def describe(self) -> str:
        return f"s3 {self.config.bucket}/{self.config.prefix}"

    def _s3(self) -> Any:
        if self._client is None:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]

            self._client = boto3.client(
                "s3",
                endpoint_url=self.config.endpoint,
                region_name=self.config.region,
                config=Config(retries={"max_attempts": 2}, connect_timeout=10, read_timeout=30),
            )
        return self._client

    def _key(self, run_id: str) -> str:
        return f"{self.config.prefix}{run_id}.json"

    def publish(self, head: Head) -> str:
        body = json.dumps(head.document(), sort_keys=True).encode()
        extra: dict[str, Any] = {}
        if self.config.lock_mode and self.config.lock_days:
            extra["ObjectLockMode"] = self.config.lock_mode
            extra["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(
                days=self.config.lock_days
            )
            extra["ChecksumAlgorithm"] = "SHA256"  # Object Lock puts must carry a checksum
        key = self._key(head.run_id)
        try:
            reply = self._call(
                "put_object",
                Bucket=self.config.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                IfNoneMatch="*",
                **extra,
            )
        except _Precondition:
            # Already there (a run that crashed after publishing, or another process): it
            # counts when it is this very head.
            kept = self._get(key, None)
            if kept != head:
                raise AnchorError(
                    f"{self.describe()}: {key} already holds a different head"
                ) from None
            return "already anchored"
        version = reply.get("VersionId")
        return f"version {version}" if version else "stored"

    def read(self) -> Reading:
        reading = Reading()
        versions: dict[str, list[dict[str, Any]]] = {}
        hidden: set[str] = set()
        pages = self._call("get_paginator", "list_object_versions").paginate(
            Bucket=self.config.bucket, Prefix=self.config.prefix
        )
        try:
            for page in pages:
                for version in page.get("Versions", []):
                    versions.setdefault(str(version["Key"]), []).append(version)
                for marker in page.get("DeleteMarkers", []):
                    if marker.get("IsLatest"):
                        hidden.add(str(marker["Key"]))
        except Exception as exc:
            raise AnchorError(f"{self.describe()}: cannot list ({_reason(exc)})") from None
        for key in sorted(versions):
            # S3 lists a key's versions newest first; LastModified is too coarse (seconds)
            # to order two writes of one second.
            kept = versions[key][::-1]
            where = f"{self.describe()}: {key}"
            if len(kept) > 1:
                reading.problems.append(
                    f"{where} was written {len(kept)} times (an anchored head was overwritten); "
                    "the first version counts"
                )
            if key in hidden:
                reading.problems.append(
                    f"{where} was deleted (a delete marker hides it); its first version counts"
                )
            version = kept[0].get("VersionId")
            try:
                reading.heads.append(self._get(key, None if version in (None, "null") else version))
            except ValueError as exc:
                reading.problems.append(f"{where}: {exc}")
        return reading

    def _get(self, key: str, version: str | None) -> Head:
        options = {"VersionId": version} if version else {}
        reply = self._call("get_object", Bucket=self.config.bucket, Key=key, **options)
        try:
            return Head.from_document(json.loads(reply["Body"].read()))
        except (ValueError, AttributeError) as exc:
            raise ValueError(str(exc)) from None

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A boto3 call, its failures as :class:`AnchorError` (412 as :class:`_Precondition`)."""
        try:
            return getattr(self._s3(), method)(*args, **kwargs)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise _Precondition() from None
            raise AnchorError(f"{self.describe()}: {_reason(exc)}") from None

    def probe(self) -> list[tuple[str, str]]:
        where = self.describe()
        try:
            self._call("head_bucket", Bucket=self.config.bucket)
        except AnchorError as exc:
            return [("warning", f"cannot reach the bucket: {exc}")]
        if not self.config.lock_mode:
            return [("ok", f"{where}: reachable (no Object Lock configured)")]
        try:
            lock = self._call("get_object_lock_configuration", Bucket=self.config.bucket)
            enabled = lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        except AnchorError:
            enabled = None
        if enabled != "Enabled":
            return [
                (
                    "error",
                    f"{where}: lock_mode is set but the bucket has no Object Lock (enable it "
                    "when creating the bucket, or drop lock_mode and lock_days)",
                )
            ]
        return [
            (
                "ok",
                f"{where}: reachable, Object Lock {self.config.lock_mode} "
                f"{self.config.lock_days} days per head",
            )
        ]

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


class _Precondition(Exception):
    """The object exists already (If-None-Match failed)."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return secrets.scrub(text)
