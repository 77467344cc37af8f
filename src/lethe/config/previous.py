"""An earlier version of a policy file, for ``lethe plan --against``: a file, or a git revision.

A file is loaded as any policy file (relative paths from its own directory). Anything else is
taken as a git revision of the current file (``HEAD``, ``HEAD~3``, ``main``, a commit id, or
``REV:path`` for another path in that revision), read with ``git show`` and loaded with the
current file's directory, where its relative paths pointed when it was checked in.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from lethe.config.loader import Settings, load, load_file
from lethe.errors import ConfigError

__all__ = ["load_previous"]

_WHERE = "--against"


def load_previous(spec: str, current: Settings, env: Mapping[str, str] | None = None) -> Settings:
    """The policy file ``spec`` names: a path, or a git revision of ``current``'s file."""
    if not spec.strip():
        raise ConfigError("needs a policy file or a git revision (e.g. HEAD~1)", _WHERE)
    path = Path(spec)
    if path.is_file():
        return load_file(path, env=env)
    if path.exists():
        raise ConfigError(f"{spec} is not a file", _WHERE)
    revision, _, inside = spec.partition(":")
    source = f"{revision}:{inside or current.source}"
    text = _git_show(revision, inside or f"./{current.source}", current.base_dir, spec)
    return load(text, source=source, base_dir=current.base_dir, env=env)


def _git_show(revision: str, path: str, cwd: Path, spec: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise ConfigError(f"{spec!r} is not a file, and git is not installed to read it", _WHERE)
    if revision.startswith("-"):  # never let a revision be read as an option of git
        raise ConfigError(f"{spec!r} is neither a file nor a git revision", _WHERE)
    done = subprocess.run(
        [git, "show", f"{revision}:{path}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["git show failed"])[-1]
        raise ConfigError(
            f"{spec!r} is neither a file nor a git revision holding {path} ({reason})", _WHERE
        )
    return done.stdout
