"""What the seeds' users run: Django's QuerySet.delete() (mode ``queryset``) or an
``obj.delete()`` loop over the first LIMIT due profiles (mode ``loop``), on real models."""

import json
import sys
import time

import django
from django.conf import settings
from sqlalchemy.engine import make_url

url, mode = sys.argv[1], sys.argv[2]
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 0
parsed = make_url(url)
if parsed.get_backend_name() == "postgresql":
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.database,
        "USER": parsed.username,
        "HOST": parsed.host,
        "PORT": parsed.port,
    }
else:
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": parsed.database}
settings.configure(
    DATABASES={"default": database},
    INSTALLED_APPS=["bench.djangoapp"],
    USE_TZ=True,
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
)
django.setup()

from bench.djangoapp.models import Profile  # noqa: E402
from bench.therapy import AS_OF  # noqa: E402

due = Profile.objects.filter(deletion_scheduled_at__lte=AS_OF, deleted_at__isnull=True)
started, cpu = time.perf_counter(), time.process_time()
if mode == "queryset":
    due.delete()
else:
    for profile in due.order_by("id")[:limit]:
        profile.delete()
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
