"""What the seeds' users run: Django's QuerySet.delete() (mode ``queryset``) or an
``obj.delete()`` loop over the first LIMIT due profiles (mode ``loop``), on real models."""

import json
import sys
import time

from bench.djangoapp.setup import configure

url, mode = sys.argv[1], sys.argv[2]
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 0
configure(url)

from django.db import connections  # noqa: E402

from bench.djangoapp.models import Profile  # noqa: E402
from bench.therapy import AS_OF  # noqa: E402

connections["default"]  # its backend and driver imported before the clock (contenders/drivers.py)

due = Profile.objects.filter(deletion_scheduled_at__lte=AS_OF, deleted_at__isnull=True)
started, cpu = time.perf_counter(), time.process_time()
if mode == "queryset":
    due.delete()
else:
    for profile in due.order_by("id")[:limit]:
        profile.delete()
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
