"""The examples' Django projects, migrated, seeded and run by their own ``manage.py`` in a
child process, each against a fresh database and media directory of the test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support.apps import EXAMPLES

__all__ = ["DjangoProject", "django_project"]

_SETTINGS = {
    "census": "census_app.settings",
    "checktick": "checktick_app.settings",
    "validibot": "config.settings",
}


@dataclass(frozen=True)
class DjangoProject:
    """One example project: ``root`` holds ``manage.py``; lethe's state lives in ``home``."""

    name: str
    root: Path
    home: Path
    env: dict[str, str]

    @property
    def media(self) -> Path:
        return Path(self.env["MEDIA_ROOT"])

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``python manage.py ARGS`` in the project, with the test's database and media."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)}: {done.stdout}{done.stderr}")
        return done

    def setup(self, now: datetime) -> None:
        """Django's migrations, then the project's seed around ``now``."""
        self.manage("migrate", "-v0")
        self.manage("seed", "--now", now.isoformat())

    def lethe(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``python manage.py lethe ARGS``."""
        return self.manage("lethe", *args, check=check)

    def run_json(self, *args: str, check: bool = True) -> dict[str, Any]:
        """``manage.py lethe run --json ARGS``, its document."""
        done = self.lethe("run", "--json", *args, check=check)
        document: dict[str, Any] = json.loads(done.stdout)
        return document


def django_project(name: str, url: str, tmp_path: Path, policy: str | None = None) -> DjangoProject:
    """The example ``name`` on database ``url``, its policy file copied into ``tmp_path``
    (or ``policy`` written there), media under ``tmp_path/media``."""
    root = EXAMPLES / name / "project"
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    config = home / "lethe.toml"
    if policy is None:
        shutil.copy(root / "lethe.toml", config)
    else:
        config.write_text(policy)
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LETHE_"))},
        "DATABASE_URL": url,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LETHE_CONFIG": str(config),
        "DJANGO_SETTINGS_MODULE": _SETTINGS[name],
        "PYTHONPATH": os.pathsep.join([str(root), str(src)]),
    }
    return DjangoProject(name, root, home, env)
