"""The shop's ASGI application, with lethe's endpoints under /lethe."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")

from django.core.asgi import get_asgi_application

from lethe.contrib.django.http import with_lethe

application = with_lethe(get_asgi_application(), prefix="/lethe")
