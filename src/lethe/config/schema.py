"""The JSON Schema of ``lethe.toml``, for editors (Taplo / Even Better TOML read it)."""

from __future__ import annotations

from typing import Any

from lethe.config.model import LetheConfig

__all__ = ["json_schema"]


def json_schema() -> dict[str, Any]:
    """The policy file's JSON Schema, generated from the pydantic models."""
    schema = LetheConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lethe policy file (lethe.toml)"
    return schema
