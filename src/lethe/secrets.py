"""The process-wide list of secret values that must never be printed, logged or audited.

Loading a policy file registers every password found in a store URL and every value
interpolated from an environment variable whose name looks secret; :func:`scrub` replaces them
in any text on its way out (CLI output, log records, error messages, run records).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote

__all__ = ["looks_secret", "redact_url", "register", "register_url", "scrub"]

_lock = threading.Lock()
_values: set[str] = set()
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?=@)")
MASK = "***"


def register(value: str | None) -> None:
    """Treat ``value`` as a secret from now on (short values are ignored: too many false hits)."""
    if value and len(value) >= 4:
        with _lock:
            _values.add(value)
            _values.add(unquote(value))


def looks_secret(variable_name: str) -> bool:
    """Whether an environment variable's name says it holds a secret."""
    return bool(_SECRET_NAME.search(variable_name))


def redact_url(url: str) -> str:
    """``postgresql://app:hunter2@db/app`` → ``postgresql://app:***@db/app``."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, url)


def register_url(url: str) -> None:
    """Register the password part of a URL, if it has one."""
    for match in _URL_PASSWORD.finditer(url):
        register(match.group("pw"))


def scrub(text: str) -> str:
    """``text`` with every registered secret and every URL password masked."""
    text = redact_url(text)
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text
