"""Least privilege for a blob store: list and delete on exactly the prefixes, write on the
run-record prefix, nothing else.

For S3 this is an IAM policy document (attach it to the role lethe runs as); for GCS, Azure
and local directories the same facts are printed as the conditions or permissions to set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lethe.stores.base import DatasetUse
from lethe.stores.blob.dataset import METADATA

if TYPE_CHECKING:
    from lethe.stores.blob.dataset import BlobDataset

__all__ = ["grant_lines", "iam_policy"]


def _needs(
    handles: Sequence[tuple[BlobDataset, DatasetUse]],
) -> tuple[list[str], list[str], list[str]]:
    """Prefixes to list, to delete under, and to read metadata under."""
    listed: set[str] = set()
    deleted: set[str] = set()
    heads: set[str] = set()
    for handle, use in handles:
        listed |= set(handle.prefixes)
        if use.deletes:
            deleted |= set(handle.prefixes)
        if any(column.startswith(METADATA) for column in use.reads):
            heads |= set(handle.prefixes)
    return sorted(listed), sorted(deleted), sorted(heads)


def iam_policy(
    url: str, handles: Sequence[tuple[BlobDataset, DatasetUse]], records: Sequence[str]
) -> dict[str, Any]:
    """The IAM policy document for an ``s3://bucket/base`` store."""
    parts = urlsplit(url)
    bucket, base = parts.netloc, parts.path.strip("/")
    base = f"{base}/" if base else ""
    listed, deleted, heads = _needs(handles)

    def objects(prefixes: Sequence[str]) -> list[str]:
        return [f"arn:aws:s3:::{bucket}/{base}{p}*" for p in prefixes]

    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListDatasetPrefixes",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": [f"{base}{p}*" for p in listed]}},
        }
    ]
    if deleted:
        statements.append(
            {
                "Sid": "DeleteExpiredObjects",
                "Effect": "Allow",
                "Action": "s3:DeleteObject",
                "Resource": objects(deleted),
            }
        )
    if heads:
        statements.append(
            {
                "Sid": "ReadObjectMetadata",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": objects(heads),
            }
        )
    if records:
        statements.append(
            {
                "Sid": "WriteRunRecords",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": objects(records),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def grant_lines(
    url: str,
    handles: Sequence[tuple[BlobDataset, DatasetUse]],
    records: Sequence[str],
    role: str,
) -> list[str]:
    """What to grant ``role``, as lines to print."""
    scheme = urlsplit(url).scheme
    if scheme == "s3":
        document = json.dumps(iam_policy(url, handles, records), indent=2)
        return [f"# IAM policy for {role} (attach to its role or user):", *document.splitlines()]
    listed, deleted, heads = _needs(handles)
    where = url.split("?", 1)[0].rstrip("/")
    lines = [f"# {role} needs, on {where}:"]
    lines += [f"list: {p}*" for p in listed]
    lines += [f"delete: {p}*" for p in deleted]
    lines += [f"read metadata: {p}*" for p in heads]
    lines += [f"write: {p}*" for p in records]
    if scheme == "file":
        lines.append("# a local directory: give the user running lethe write access to these")
        lines.append("# directories (deleting a file is a write on its directory), and no others")
    return lines
