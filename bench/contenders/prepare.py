"""The state database a scheduled job finds: created before a lethe contender starts, by
another process.

A deployed job's state database is created once, by the first command that needs it (a run,
plan or hold, days ago); every later run finds the schema at the newest revision and reads
that without importing Alembic. Migrating a fresh state database inside the measured process
would leave Alembic, Mako and their DDL resident there: ~9 MB of peak RSS that no steady-state
run pays (measured 2026-12-07 on the Django path: 102.1 MB migrating in-process, 93.1 MB
migrated apart). ``migrate_apart`` runs ``python -m bench.contenders.prepare POLICY
[DJANGO_URL]`` and waits; the child's memory is its own (the peak is each process's own VmHWM,
see measure.py).
"""

import subprocess
import sys

from lethe import Lethe


def migrate_apart(policy: str, django_url: str | None = None) -> None:
    """Create the policy's state database (at the newest revision) in a child process;
    ``django_url`` when the policy's stores need Django set up on that database first."""
    argv = [sys.executable, "-m", "bench.contenders.prepare", policy]
    subprocess.run([*argv, *([django_url] if django_url else [])], check=True)


def steady_state() -> dict[str, bool]:
    """What the contender reports so the bench can tell it measured a steady-state run: Alembic
    is imported only to migrate, so its presence means the state was migrated in here."""
    return {"migrated_in_process": "alembic" in sys.modules}


def migrate(policy: str) -> None:
    """Create the policy's state database in this process."""
    with Lethe.from_file(policy, env={}) as lethe:
        lethe.runtime.state.migrate()


if __name__ == "__main__":
    if len(sys.argv) > 2:
        from bench.djangoapp.setup import configure

        configure(sys.argv[2], lethe=True)
    migrate(sys.argv[1])
