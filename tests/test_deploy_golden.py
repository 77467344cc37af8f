"""The generated files of every seed, pinned as golden files so a change is read in review.

Regenerate after an intended change with::

    LETHE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_deploy_golden.py

and read the diff of ``tests/golden/deploy/`` before committing it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lethe.deploy import write
from tests.support.deploy import PLATFORMS, render

GOLDEN = Path(__file__).parent / "golden" / "deploy"
UPDATE = os.environ.get("LETHE_UPDATE_GOLDEN") == "1"
# The write-ups' platforms, plus what --approximate=tick makes of Validibot's Sydney jobs on
# platforms stuck in UTC, and systemd for DataPilot.
CASES = [(example, target, False) for example, targets in PLATFORMS.items() for target in targets]
CASES += [("validibot", t, True) for t in ("heroku", "kubernetes", "github-actions")]
CASES += [("datapilot", "systemd", False)]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    ("example", "target", "approximate"),
    CASES,
    ids=[f"{e}-{t}{'-tick' if a else ''}" for e, t, a in CASES],
)
def test_generated_files_match_the_golden_files(
    example: str, target: str, approximate: bool, tmp_path: Path
) -> None:
    artifacts, _ = render(example, target, approximate=approximate)
    write(artifacts, tmp_path)
    golden = GOLDEN / example / (f"{target}-tick" if approximate else target)
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(tmp_path, golden)
    assert _tree(tmp_path) == _tree(golden), (
        f"{golden} differs; if intended, regenerate (see this module's docstring)"
    )
