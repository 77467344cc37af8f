"""``type = "file"``: run heads appended to a JSON-lines file, one line per head.

The file is opened with ``O_APPEND`` for every head and never rewritten or truncated, so it
can live where only appends are allowed: a ``chattr +a`` file, a log shipper's input, a
write-once mount. A relative ``path`` is taken from the policy file's directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from lethe.evidence.anchors.base import AnchorConfig, AnchorError, Head, Reading
from lethe.evidence.anchors.registry import register

__all__ = ["FileAnchor", "FileAnchorConfig"]


@register("file")
class FileAnchorConfig(AnchorConfig):
    """Append each run head to ``path``::

    [[evidence.anchors]]
    type = "file"
    path = "/var/lib/lethe-anchor/heads.jsonl"
    """

    type: Literal["file"] = "file"
    path: str

    def build(self, base_dir: Path, env: Mapping[str, str]) -> FileAnchor:
        return FileAnchor(self.label, base_dir / self.path)


class FileAnchor:
    """A JSON-lines file only ever appended to."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    def describe(self) -> str:
        return f"file {self.path}"

    def publish(self, head: Head) -> str:
        line = (json.dumps(head.document(), sort_keys=True) + "\n").encode()
        try:
            # O_APPEND: each write lands at the end whatever else appends; one write per line.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise AnchorError(f"{self.describe()}: cannot append ({exc.strerror})") from None
        return "appended"

    def read(self) -> Reading:
        reading = Reading()
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return reading  # nothing anchored yet: every ledger head shows as missing
        except (OSError, UnicodeDecodeError) as exc:
            raise AnchorError(f"{self.describe()}: cannot read ({exc})") from None
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                reading.heads.append(Head.from_document(json.loads(line)))
            except (ValueError, AttributeError) as exc:
                reading.problems.append(f"{self.describe()} line {number}: {exc}")
        if text and not text.endswith("\n"):
            reading.problems.append(f"{self.describe()}: the last line is incomplete")
        return reading

    def probe(self) -> list[tuple[str, str]]:
        where = self.describe()
        if self.path.exists():
            if self.path.is_file() and os.access(self.path, os.W_OK):
                return [("ok", f"{where}: can be appended to")]
            return [("error", f"{where}: is not a file lethe can append to")]
        if self.path.parent.is_dir() and os.access(self.path.parent, os.W_OK | os.X_OK):
            return [("ok", f"{where}: will be created on the first head")]
        return [("error", f"{where}: its directory {self.path.parent} cannot be written")]

    def close(self) -> None:
        """Nothing stays open between heads."""
