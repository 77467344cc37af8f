"""lethe inside a Django project: the policy names ``model = "djangoapp.Profile"`` on
``django://default``, so its table, key and cascade come from the models' ``on_delete``.

``python -m bench.contenders.django_lethe URL POLICY``: Django is set up outside the timing (as
for the QuerySet.delete baseline); loading the policy (resolving the models) and the run are
timed, as ``lethe_run`` times the plain SQL path. The state database is created before, by a
child process (prepare.py).
"""

import json
import sys
import time

from bench.djangoapp.setup import configure

url, path = sys.argv[1], sys.argv[2]
configure(url, lethe=True)

from django.db import connections  # noqa: E402

from bench.contenders.drivers import import_drivers  # noqa: E402
from bench.contenders.prepare import migrate_apart, steady_state  # noqa: E402
from bench.therapy import AS_OF  # noqa: E402
from lethe import Lethe  # noqa: E402
from lethe.engine.executor import BatchReport  # noqa: E402

migrate_apart(path, url)  # the state database exists before a job runs
with Lethe.from_file(path, env={}) as setup:
    import_drivers(setup)
connections["default"]  # its backend and driver imported before the clock (contenders/drivers.py)
batches: list[BatchReport] = []
started, cpu = time.perf_counter(), time.process_time()
with Lethe.from_file(path, env={}) as lethe:
    result = lethe.run(as_of=AS_OF, dry_run=False, progress=batches.append)
    assert result.errors == (), result.errors
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
removal = sum(b.seconds for b in batches)
print(
    json.dumps(
        {
            "seconds": seconds,
            "cpu": cpu,
            "items": result.deleted,
            "batch_seconds": removal,
            **steady_state(),
        }
    )
)
