"""lethe through its Python API (what the CLI does): load the policy, run (or plan) it."""

import json
import sys
import time

from bench.therapy import AS_OF
from lethe import Lethe

path, mode = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "run"
# A scheduled job finds its state database already created: create it outside the timing.
with Lethe.from_file(path, env={}) as setup:
    setup.runtime.state.migrate()
started, cpu = time.perf_counter(), time.process_time()
with Lethe.from_file(path, env={}) as lethe:
    if mode == "plan":
        planned = lethe.plan(as_of=AS_OF)
        count = sum(len(p.keys) for p in planned.phases)
    else:
        result = lethe.run(as_of=AS_OF)
        assert result.errors == (), result.errors
        count = result.deleted
print(
    json.dumps(
        {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "items": count}
    )
)
