"""The therapy app's job, calling lethe from code and printing the stats it used to build.

Run: ``DATABASE_URL=sqlite:///therapy.db python scheduled_deletion.py``
"""

from __future__ import annotations

import json
from pathlib import Path

from lethe import Lethe


def process_scheduled_deletions() -> dict[str, object]:
    """Delete every account past its scheduled deletion; return the job's statistics."""
    with Lethe.from_file(Path(__file__).with_name("lethe.toml")) as lethe:
        result = lethe.run(["account-deletion"])
    return {
        "run_id": result.run_id,
        "deleted": result.deleted,
        "rows": result.counts(),
        "errors": list(result.errors),
    }


if __name__ == "__main__":
    print(json.dumps(process_scheduled_deletions(), indent=2))
