"""Email through the Django project's own mail backend (``django.core.mail``).

Whatever ``EMAIL_BACKEND`` the project uses (SMTP, Amazon SES, Anymail, the locmem backend in
its tests) carries lethe's notices, with the project's ``EMAIL_*`` settings. This module only
holds the policy-file keys and never imports Django: the live sender
(:mod:`lethe.contrib.django.mail`) is built when the first run sends, inside the project
(``python manage.py lethe``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from lethe.errors import ConfigError
from lethe.notify.base import SenderConfig
from lethe.notify.registry import register

if TYPE_CHECKING:
    from lethe.notify.base import Sender

__all__ = ["DjangoMail"]


@register("django")
class DjangoMail(SenderConfig):
    """Send email through the Django project's mail backend (its ``EMAIL_BACKEND``; From is
    ``DEFAULT_FROM_EMAIL`` unless ``from_address`` says otherwise)::

    sender = { type = "django", from_address = "privacy@example.org" }
    """

    type: Literal["django"] = "django"
    from_address: str | None = Field(
        default=None, description="The From address (default: Django's DEFAULT_FROM_EMAIL)."
    )
    backend: str | None = Field(
        default=None,
        description="A mail backend other than the project's EMAIL_BACKEND (a dotted path).",
    )

    def build(self) -> Sender:
        try:
            from lethe.contrib.django.mail import DjangoMailSender
        except ImportError as exc:  # Django is not installed
            raise ConfigError(
                f"the django sender needs Django ({exc.name} is missing: "
                'pip install "lethe-retention[django]")'
            ) from None
        return DjangoMailSender(self)
