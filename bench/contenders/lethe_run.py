"""lethe through its Python API (what the CLI does): load the policy, run (or plan) it.

``python -m bench.contenders.lethe_run POLICY [run|plan|migrate] [AS_OF]``; AS_OF defaults to
the instant the therapy data is built around. ``migrate`` only creates the state database (the
bench does it before measuring when that database is the application's, so that its migration
is not counted among the contender's transactions); otherwise a child process creates it before
the clock starts (prepare.py), as a scheduled job finds it.
"""

import json
import sys
import time
from datetime import datetime

from bench.contenders.drivers import import_drivers
from bench.contenders.prepare import migrate, migrate_apart, steady_state
from bench.therapy import AS_OF
from lethe import Lethe
from lethe.engine.executor import BatchReport

path, mode = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "run"
as_of = datetime.fromisoformat(sys.argv[3]) if len(sys.argv) > 3 else AS_OF
if mode == "migrate":
    migrate(path)
    print(json.dumps({"seconds": 0.0}))
    sys.exit(0)
migrate_apart(path)
with Lethe.from_file(path, env={}) as setup:
    import_drivers(setup)
batches: list[BatchReport] = []  # each batch's own time: the removal, without the run around it
started, cpu = time.perf_counter(), time.process_time()
with Lethe.from_file(path, env={}) as lethe:
    if mode == "plan":
        planned = lethe.plan(as_of=as_of)
        count = sum(len(p.keys) for p in planned.phases)
    else:
        result = lethe.run(as_of=as_of, dry_run=False, progress=batches.append)
        assert result.errors == (), result.errors
        count = result.deleted
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
removal = sum(b.seconds for b in batches)
print(
    json.dumps(
        {"seconds": seconds, "cpu": cpu, "items": count, "batch_seconds": removal, **steady_state()}
    )
)
