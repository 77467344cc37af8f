"""Loading a policy file: TOML → environment interpolation → schema → cross-checks.

Loading never connects to anything; ``lethe check`` adds the live stage
(:mod:`lethe.stores.sql.checks`). Every failure is one :class:`~lethe.errors.ConfigError`
naming the file and the key.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lethe import secrets
from lethe.actions import ACTIONS
from lethe.config.checks import cross_check
from lethe.config.interpolate import interpolate
from lethe.config.model import LetheConfig
from lethe.config.resolve import resolve_models
from lethe.config.urls import fill_store_urls, resolve_alias
from lethe.errors import ConfigError
from lethe.notify.registry import SENDERS

__all__ = ["DEFAULT_CONFIG", "Settings", "load", "load_file"]

DEFAULT_CONFIG = "lethe.toml"


@dataclass(frozen=True)
class Settings:
    """A validated policy file, with the paths it is relative to."""

    config: LetheConfig
    source: str
    base_dir: Path
    #: The environment the file was expanded from: where ``[evidence] signing_key_env`` and
    #: other secrets named by variable are read (None: ``os.environ``).
    env: Mapping[str, str] | None = None

    def store_url(self, store: str) -> str:
        """The store's URL, relative SQLite paths resolved against the file's directory."""
        return resolve_url(self.config.stores[store].url, self.base_dir, f"stores.{store}.url")

    @property
    def state_url(self) -> str:
        """lethe's state database URL, resolved like store URLs. It may be a store's own
        database: each batch then writes its audit in the store's transaction."""
        return resolve_url(self.config.state.url, self.base_dir, "state.url")

    @property
    def runs_dir(self) -> Path | None:
        """Where run records are written as JSON files (None: not written)."""
        if not self.config.state.runs_dir:
            return None
        return self.base_dir / self.config.state.runs_dir

    @property
    def hash(self) -> str:
        """A fingerprint of the policy (URLs redacted) binding plans to their policy."""
        dumped = self.config.model_dump(mode="json", by_alias=True)
        dumped["stores"] = {k: secrets.redact_url(v["url"]) for k, v in dumped["stores"].items()}
        dumped["state"]["url"] = secrets.redact_url(dumped["state"]["url"])
        canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def resolve_url(url: str, base_dir: Path, where: str = "url") -> str:
    """Make a relative SQLite or ``file://`` path absolute against ``base_dir``; a URL whose
    scheme names the host's connection (``django://default``) becomes that connection's URL
    (:mod:`lethe.config.urls`)."""
    aliased = resolve_alias(url, where)
    if aliased is not None:
        return aliased
    if url.startswith("file://"):
        path = Path(url[len("file://") :] or ".")
        return url if path.is_absolute() else f"file://{(base_dir / path).resolve()}"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # the store says what is wrong when it opens
        return url
    if parsed.get_backend_name() != "sqlite":
        return url
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    if Path(database).is_absolute():
        return url
    return parsed.set(database=str((base_dir / database).resolve())).render_as_string(
        hide_password=False
    )


def load_file(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Settings:
    """Load and validate a policy file from disk."""
    file = Path(path)
    try:
        raw = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"policy file not found: {file.absolute()} "
            "(create one, or run `lethe demo` to see an example)"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text: byte {exc.object[exc.start]:#04x} at offset {exc.start} "
            "(save the file as UTF-8)",
            str(file),
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read policy file {file}: {exc.strerror}") from exc
    return load(raw, source=file.name, base_dir=file.resolve().parent, env=env)


def load(
    text: str,
    *,
    source: str = DEFAULT_CONFIG,
    base_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Validate policy-file ``text``; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source) from exc
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively.
        raise ConfigError("not valid TOML: values nested too deeply", source) from None
    env = os.environ if env is None else env
    data = fill_store_urls(_interpolate(data, env, source, ()))
    try:
        # Defaults some models read from the environment (EMAIL_HOST, …) come from ``env`` too.
        config = LetheConfig.model_validate(data, context={"env": env})
    except ValidationError as exc:
        raise _config_error(exc, source) from None
    for store in config.stores.values():
        secrets.register_url(store.url)
    secrets.register_url(config.state.url)
    config = resolve_models(config, source)
    cross_check(config, source)
    return Settings(config=config, source=source, base_dir=base_dir or Path.cwd(), env=env)


def _interpolate(value: Any, env: Mapping[str, str], source: str, path: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        result = interpolate(value, env, f"{source}: {'.'.join(path)}")
        for name, env_value in env.items():
            if env_value and f"${{{name}" in value and secrets.looks_secret(name):
                secrets.register(env_value)
        return result
    if isinstance(value, dict):
        return {k: _interpolate(v, env, source, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, source, (*path, str(i))) for i, v in enumerate(value)]
    return value


def _config_error(exc: ValidationError, source: str) -> ConfigError:
    errors = exc.errors()
    first = errors[0]
    loc = _readable_loc(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "union_tag_invalid":
        # Phase types, sender and anchor kinds are all unions told apart by ``type``.
        expected = str(first.get("ctx", {}).get("expected_tags", ""))
        tags = sorted(t.strip(" '") for t in expected.split(",") if t.strip()) or sorted(ACTIONS)
        what = "action type" if loc.endswith("]") and ".actions[" in loc else "type"
        message = f"unknown {what}; use one of {', '.join(tags)}"
    else:
        message = first["msg"].removeprefix("Value error, ")
        if "input" in first and not isinstance(first["input"], dict | list):
            message += f" (got {first['input']!r})"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ConfigError(message, f"{source}: {loc}" if loc else source)


def _readable_loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    previous: int | str | None = None
    for part in loc:
        # Drop pydantic's union-member tags ("purge", "function-after[...]").
        if isinstance(part, str) and (
            "[" in part
            or (isinstance(previous, int) and part in ACTIONS)
            or (previous == "sender" and part in SENDERS)
        ):
            previous = part
            continue
        parts.append(f"[{part}]" if isinstance(part, int) else str(part))
        previous = part
    return ".".join(parts).replace(".[", "[")
