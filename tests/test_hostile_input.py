"""Hostile input gets one line and an exit code, never a traceback, and touches nothing.

The corpus of the hardening campaign (issue 11's "crashes instead of one-line errors") and
more of the same families: files that are not UTF-8 or nest past the parser's recursion limit,
durations and counts too large to date or to bind, instants at the ends of the calendar, URLs
that do not parse, hostile plan files and command-line numbers. Each case runs the real CLI
against the demo database and checks: the documented exit code, exactly one line on stderr,
and the application database byte for byte unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import httpx
import pytest
from jwt.algorithms import RSAAlgorithm

from lethe.cli.app import main
from lethe.config import load_file
from lethe.demo.seed import create_demo_database
from lethe.http.app import create_app
from lethe.jobs.runner import JobService
from tests.support.apps import NOW
from tests.support.jobs import make_items, write_policy
from tests.support.oidc import AUDIENCE, EMAIL, ISSUER, Issuer
from tests.support.web import Recorder, http_server, uvicorn_server

Edit = Callable[[str], str]


@dataclass(frozen=True)
class Case:
    """One hostile input: how to spoil the setup, the command, the expected exit code."""

    argv: tuple[str, ...]
    code: int
    policy: Edit | None = None
    files: dict[str, bytes] = field(default_factory=dict)


def _retain(value: str) -> Edit:
    return lambda text: text.replace('retain = "30d"', f'retain = "{value}"')


def _before(block: str) -> Edit:
    return lambda text: block + "\n" + text


def _store_url(url: str) -> Edit:
    return lambda text: text.replace('"${DATABASE_URL:-sqlite:///app.db}"', f'"{url}"')


def _state_url(url: str) -> Edit:
    return lambda text: text.replace('"sqlite:///.lethe/state.db"', f'"{url}"')


def _blob_prefix(prefix: str) -> Edit:
    # The whole policy: one blob dataset on a local store (the demo's SQLite stays untouched).
    listed = json.dumps(["uploads/", prefix])  # a JSON array of strings is a TOML array
    return lambda _: (
        '[state]\nurl = "sqlite:///.lethe/state.db"\n[stores.files]\nurl = "file://."\n'
        f'[datasets.blobs]\nstore = "files"\nprefixes = {listed}\nretain = "30d"\n'
        '[policies.blobs]\ndataset = "blobs"\n[[policies.blobs.actions]]\ntype = "purge"\n'
    )


_NESTED_ARRAYS = ("x = " + "[" * 5000 + "]" * 5000 + "\n").encode()
_NESTED_TABLES = ("x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n").encode()

CASES: dict[str, Case] = {
    # The policy file itself.
    "policy file not UTF-8": Case(
        ("-c", "bad.toml", "check"), 2, files={"bad.toml": b'[stores.app]\nurl = "\xff\xfe"\n'}
    ),
    "policy file in UTF-16": Case(
        ("-c", "bad.toml", "check"),
        2,
        files={"bad.toml": '[stores.app]\nurl = "sqlite:///app.db"\n'.encode("utf-16")},
    ),
    "policy file is a directory": Case(("-c", ".", "check"), 2),
    "policy file with a NUL byte": Case(
        ("-c", "bad.toml", "check"), 2, files={"bad.toml": b'[stores.app]\nurl = "a\x00b"\n'}
    ),
    "nested arrays (RecursionError)": Case(
        ("-c", "bad.toml", "plan"), 2, files={"bad.toml": _NESTED_ARRAYS}
    ),
    "nested inline tables (RecursionError)": Case(
        ("-c", "bad.toml", "plan"), 2, files={"bad.toml": _NESTED_TABLES}
    ),
    # Durations and counts.
    'retain "99999999999y" (OverflowError at load)': Case(
        ("check",), 2, policy=_retain("99999999999y")
    ),
    'retain "10000y" (passed load, plan crashed)': Case(("plan",), 2, policy=_retain("10000y")),
    "retain with 5000 digits": Case(("plan",), 2, policy=_retain("9" * 5000 + "d")),
    'grace "10000y"': Case(
        ("plan",), 2, policy=lambda t: t.replace('grace = "30d"', 'grace = "10000y"')
    ),
    'min_retain "99999999999999999999d"': Case(
        ("plan",), 2, policy=_before('[limits]\nmin_retain = "99999999999999999999d"')
    ),
    'health window "99999999999y"': Case(
        ("health",), 2, policy=_before('[health]\nwindow = "99999999999y"')
    ),
    "max_deletions too large to bind (the run crashed mid-way)": Case(
        ("run",), 2, policy=_before("[limits]\nmax_deletions = 99999999999999999999999")
    ),
    "max_rows too large": Case(
        ("run",), 2, policy=_before("[limits.breaker]\nmax_rows = 99999999999999999999999")
    ),
    "max_percent nan": Case(("run",), 2, policy=_before("[limits.breaker]\nmax_percent = nan")),
    "batch_seconds inf": Case(("run",), 2, policy=_before("[limits]\nbatch_seconds = inf")),
    # Instants at the ends of the calendar.
    **{
        f"--as-of {instant} on {command}": Case((command, "--as-of", instant, *extra), 2)
        for instant in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z")
        for command, extra in (("plan", ()), ("run", ()), ("explain", ("surveys", "4")))
    },
    "--as-of 9999-12-31 at -01:00 (past the calendar in UTC)": Case(
        ("plan", "--as-of", "9999-12-31T23:59:59-01:00"), 2
    ),
    "--as-of 0001-01-01 at +01:00 (before the calendar in UTC)": Case(
        ("run", "--dry-run", "--as-of", "0001-01-01T00:00:00+01:00"), 2
    ),
    "--as-of not a date": Case(("plan", "--as-of", "soon"), 2),
    "--as-of with a five-digit year": Case(
        ("explain", "surveys", "4", "--as-of", "99999-01-01"), 2
    ),
    "--as-of with an offset past 24 hours": Case(("plan", "--as-of", "2024-10-26T02:00+25:00"), 2),
    # URLs.
    "store URL with a non-numeric port": Case(
        ("plan",), 2, policy=_store_url("postgresql://app@127.0.0.1:abc/app")
    ),
    "store URL with an unclosed IPv6 bracket": Case(
        ("plan",), 2, policy=_store_url("postgresql://app@[::1/app")
    ),
    "Redis URL with a non-numeric port": Case(
        ("plan",), 2, policy=_store_url("redis://127.0.0.1:abc/0")
    ),
    "state URL with a non-numeric port": Case(
        ("runs",), 2, policy=_state_url("postgresql://app@127.0.0.1:abc/state")
    ),
    # Blob prefixes the object store cannot parse: refused at load (were exit 5 at listing).
    **{
        f"blob prefix {prefix!r}": Case(("plan",), 2, policy=_blob_prefix(prefix))
        for prefix in ("../x/", "a//", "./", "a/./b/", "a\x01/")
    },
    # Plan files (the hash is recomputed where noted, so the plan reaches its parser).
    "plan file not UTF-8": Case(("run", "--plan", "p.json"), 2, files={"p.json": b"\xff{"}),
    "plan file nested too deeply": Case(
        ("run", "--plan", "p.json"), 2, files={"p.json": b"[" * 100_000 + b"]" * 100_000}
    ),
    "plan file whose keys are a string (hash recomputed)": Case(
        ("run", "--plan", "p.json"), 2, files={"p.json": b"keys"}
    ),
    "plan file whose as_of has no zone (hash recomputed)": Case(
        ("run", "--plan", "p.json"), 2, files={"p.json": b"as_of"}
    ),
    # Numbers on the command line.
    "runs --last too large to bind": Case(("runs", "--last", "99999999999999999999"), 2),
    "runs --last 0": Case(("runs", "--last", "0"), 2),
    "hold release of an id too large to bind": Case(
        ("hold", "release", "99999999999999999999999"), 6
    ),
}


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tampered_plan(directory: Path, spoil: str, capsys: pytest.CaptureFixture[str]) -> bytes:
    """A real plan with one field spoiled and its hash recomputed as lethe computes it."""
    assert main(["plan", "--as-of", NOW.isoformat(), "--out", "good.json"]) == 0
    capsys.readouterr()
    document = json.loads((directory / "good.json").read_text())
    if spoil == "keys":
        document["phases"][0]["keys"] = "1"
    else:
        document["as_of"] = "2024-10-26T02:00:00"
    body = {k: v for k, v in document.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    document["hash"] = hashlib.sha256(canonical.encode()).hexdigest()
    return json.dumps(document).encode()


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_line_and_touches_nothing(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CASES[name]
    create_demo_database(tmp_path / "app.db", NOW)
    policy = resources.files("lethe.demo").joinpath("lethe.toml").read_text(encoding="utf-8")
    (tmp_path / "lethe.toml").write_text(case.policy(policy) if case.policy else policy)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("LETHE_CONFIG", raising=False)
    for file, content in case.files.items():
        if content in (b"keys", b"as_of"):
            content = _tampered_plan(tmp_path, content.decode(), capsys)
        (tmp_path / file).write_bytes(content)
    before = _checksum(tmp_path / "app.db")

    code = main(list(case.argv))  # an exception escaping here is the traceback we refuse

    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == case.code, f"exit {code}: {err}{out}"
    assert len(lines) == 1 and lines[0].startswith("lethe: error: "), err
    assert _checksum(tmp_path / "app.db") == before


# -- tokens at `lethe serve` ---------------------------------------------------------------

_JOBS = '[[jobs]]\nname = "purge"\nschedule = "*/10 * * * *"\npolicies = ["purge-items"]\n'


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forged(issuer: Issuer, header: object, claims: object | None = None) -> str:
    """A token with any header and claims, signed by the issuer's published RSA key (so only
    the header and claims are hostile, not the signature)."""
    head = _b64(header.encode() if isinstance(header, str) else json.dumps(header).encode())
    body = _b64(json.dumps(issuer.claims() if claims is None else claims).encode())
    signature = RSAAlgorithm(RSAAlgorithm.SHA256).sign(f"{head}.{body}".encode(), issuer.rsa)
    return f"{head}.{body}.{_b64(signature)}"


def _signed(issuer: Issuer, **claims: object) -> str:
    return _forged(issuer, {"alg": "RS256", "kid": "rsa-1"}, issuer.claims(**claims))


TOKENS: dict[str, tuple[Callable[[Issuer], str], int]] = {
    "alg is a list (was HTTP 500)": (lambda i: _forged(i, {"alg": ["RS256"], "kid": "rsa-1"}), 401),
    "alg is an object (was HTTP 500)": (
        lambda i: _forged(i, {"alg": {"RS256": True}, "kid": "rsa-1"}),
        401,
    ),
    "kid is an object": (lambda i: _forged(i, {"alg": "RS256", "kid": {"id": "rsa-1"}}), 401),
    "header is a list": (lambda i: _forged(i, ["RS256"]), 401),
    "header nested 3,000 deep": (lambda i: _forged(i, "[" * 3000 + "]" * 3000), 401),
    'email_verified "false" (was accepted)': (lambda i: _signed(i, email_verified="false"), 403),
    "email_verified 0": (lambda i: _signed(i, email_verified=0), 403),
    "email a list holding the allowed address": (lambda i: _signed(i, email=[EMAIL]), 403),
    "email an object": (lambda i: _signed(i, email={"value": EMAIL}), 403),
    "nbf a list": (lambda i: _signed(i, nbf=[1]), 401),
    "exp infinite": (lambda i: _signed(i, exp=float("inf")), 401),
    "iat a string": (lambda i: _signed(i, iat="now"), 401),
    "aud an object": (lambda i: _signed(i, aud={"x": AUDIENCE}), 401),
}


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[tuple[str, Path]]:
    """`lethe serve` for the items application, trusting the issuer; yields (URL, app.db)."""
    directory = tmp_path_factory.mktemp("serve")
    make_items(f"sqlite:///{directory / 'app.db'}", 5)
    recorder = Recorder()
    recorder.document = issuer.jwks()
    with http_server(recorder) as jwks:
        oidc = (
            f'[serve]\nworker = true\n[serve.oidc]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n'
            f'allowed_emails = ["{EMAIL}"]\njwks_url = "{jwks}/jwks.json"\n'
        )
        policy = write_policy(directory, f"sqlite:///{directory / 'app.db'}", _JOBS, extra=oidc)
        service = JobService(load_file(policy, env={}))
        with uvicorn_server(create_app(service)) as base:
            yield base, directory / "app.db"


@pytest.mark.parametrize("name", list(TOKENS))
def test_hostile_tokens_are_refused_never_a_server_error(
    name: str, served: tuple[str, Path], issuer: Issuer
) -> None:
    base, database = served
    make, status = TOKENS[name]
    before = _checksum(database)
    reply = httpx.post(
        f"{base}/jobs/purge/runs", headers={"Authorization": f"Bearer {make(issuer)}"}, timeout=30
    )
    assert reply.status_code == status, reply.text
    assert _checksum(database) == before
