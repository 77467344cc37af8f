"""lethe's HTTP endpoints inside the Django service's ASGI application.

``lethe serve``'s application (trigger endpoints, ``/jobs``, ``/runs/{id}``, ``/healthz``,
``/health``, ``/metrics``, the OpenAPI document) mounted under a path prefix of the project's
own ASGI application, in the same process::

    # asgi.py
    from django.core.asgi import get_asgi_application
    from lethe.contrib.django.http import with_lethe

    application = with_lethe(get_asgi_application(), prefix="/lethe")

Requests under ``prefix`` go to lethe, with the same authentication (``[serve]``) and the
same answers as ``lethe serve``; every other request goes to Django. The ASGI lifespan goes to
lethe (Django's handler has none): on shutdown the runs in flight finish their batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from lethe.errors import ConfigError

__all__ = ["ASGIApp", "lethe_application", "with_lethe"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def lethe_application(config: str | None = None) -> ASGIApp:
    """``lethe serve``'s ASGI application for ``config`` (default: ``settings.LETHE_CONFIG``,
    else lethe's default file); ``ConfigError`` without authentication, as ``lethe serve``."""
    from lethe.api import Lethe
    from lethe.contrib.django.conf import config_path
    from lethe.http.app import create_app
    from lethe.jobs.runner import JobService

    settings = Lethe.from_file(config or config_path() or _default()).settings
    app: ASGIApp = create_app(JobService(settings))
    return app


def with_lethe(
    django_app: ASGIApp, *, prefix: str = "/lethe", lethe: ASGIApp | None = None
) -> ASGIApp:
    """An ASGI application sending requests under ``prefix`` to lethe (``lethe``, default
    :func:`lethe_application`) and all others to ``django_app``."""
    prefix = "/" + prefix.strip("/")
    if prefix == "/":
        raise ConfigError("the prefix must name a path below / (e.g. /lethe)", "with_lethe")
    inner = lethe if lethe is not None else lethe_application()

    async def router(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await inner(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path: str = scope.get("path", "")
        below = path[len(root) :] if path.startswith(root) else path
        if scope["type"] == "http" and (below == prefix or below.startswith(prefix + "/")):
            # ASGI: ``path`` keeps the full path; ``root_path`` says where the app is mounted.
            await inner({**scope, "root_path": root + prefix}, receive, send)
            return
        await django_app(scope, receive, send)

    return router


def _default() -> str:
    import os

    from lethe.config.loader import DEFAULT_CONFIG

    return os.environ.get("LETHE_CONFIG", DEFAULT_CONFIG)
