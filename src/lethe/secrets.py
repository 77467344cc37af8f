"""The process-wide list of secret values that must never be printed, logged or audited.

Loading a policy file registers every credential found in a store URL (the userinfo's password
and credential-bearing query parameters: ``?password=``, ``sslpassword``, ``token``, ``sig``…)
and every value interpolated from an environment variable whose name looks secret;
:func:`scrub` replaces them in any text on its way out (CLI output, log records, error
messages, run records), and masks the same shapes in any URL it finds even when unregistered.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

__all__ = [
    "is_credential_parameter",
    "looks_secret",
    "redact_url",
    "register",
    "register_url",
    "scrub",
]

_lock = threading.Lock()
_values: set[str] = set()
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL", re.I)
# The password of a URL's userinfo, up to the last "@" before the host (a password may hold
# an unencoded "@"). A ``${VAR}`` reference is not a secret, only what it expands to.
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s?#]*:)(?!\$\{)(?P<pw>[^\s/?#]*)(?=@)"
)
#: Query parameters that carry credentials: password, sslpassword, token, api_key,
#: access_key…, secret, sas, sig/signature (Azure SAS, S3 presigned URLs), credential, auth.
_CREDENTIAL_PARAM = re.compile(r"pass|pwd|token|secret|key|sas|sig|credential|auth", re.I)
# A value ends at a quote or bracket around the URL too; a password holding one is still
# masked whole, by the value :func:`register_url` registered.
_QUERY_PARAM = re.compile(r"(?P<head>[?&;](?P<name>[\w.\-]+)=)(?!\$\{)(?P<value>[^&;#\s'\"<>()]+)")
MASK = "***"


def register(value: str | None) -> None:
    """Treat ``value`` as a secret from now on (short values are ignored: too many false hits)."""
    if value and len(value) >= 4:
        with _lock:
            _values.add(value)
            _values.update(v for v in (unquote(value), unquote_plus(value)) if len(v) >= 4)


def looks_secret(variable_name: str) -> bool:
    """Whether an environment variable's name says it holds a secret."""
    return bool(_SECRET_NAME.search(variable_name))


def is_credential_parameter(name: str) -> bool:
    """Whether a URL query parameter named ``name`` carries a credential."""
    return bool(_CREDENTIAL_PARAM.search(name))


def _masked_parameter(match: re.Match[str]) -> str:
    if is_credential_parameter(match.group("name")):
        return match.group("head") + MASK
    return match.group(0)


def redact_url(url: str) -> str:
    """Credentials of any URL in ``url`` masked: the userinfo's password and every
    credential-bearing query parameter (``postgresql://app:***@db/app?sslpassword=***``)."""
    return _QUERY_PARAM.sub(
        _masked_parameter, _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, url)
    )


def register_url(url: str) -> None:
    """Register a URL's credentials, as the pattern above finds them and as a driver parsing
    the URL would (``urllib``'s userinfo, every credential-bearing query parameter)."""
    for match in _URL_PASSWORD.finditer(url):
        register(match.group("pw"))
    for match in _QUERY_PARAM.finditer(url):
        if is_credential_parameter(match.group("name")):
            register(match.group("value"))
    try:
        parts = urlsplit(url)
        register(parts.password)
        query = parse_qsl(parts.query, keep_blank_values=False)
    except ValueError:  # an unparsable URL: the pattern above is all there is
        return
    for name, value in query:
        if is_credential_parameter(name):
            register(value)


def scrub(text: str) -> str:
    """``text`` with every registered secret and every URL password masked."""
    text = redact_url(text)
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text
