"""How ``--help`` reads: no type placeholder where the option takes no value.

Typer 0.29 prints a type beside every parameter in its Rich help, ``<bool>`` on flags too, as
if ``--dry-run`` took a value; its plain help leaves flags bare. :func:`quiet_flag_types` makes
the Rich help do the same, and drops the Python spellings (``<str>``, ``<list[str]>``) that
say nothing a parameter's name and help do not.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

__all__ = ["quiet_flag_types"]

_SAYS_NOTHING = frozenset({"<str>", "<list[str]>", "<str>..."})


def quiet_flag_types() -> None:
    """Patch Typer's help once so flags and plain text parameters show no type."""
    if getattr(TyperOption, "_lethe_quiet", False):
        return
    for cls in (TyperOption, TyperArgument):
        shown = cls.display_type_rich

        def display(self: Any, ctx: Any, shown: Any = shown) -> str | None:
            if getattr(self, "is_flag", False) or getattr(self, "count", False):
                return None
            label: str | None = shown(self, ctx)
            return None if label in _SAYS_NOTHING else label

        cls.display_type_rich = display  # type: ignore[method-assign]
    TyperOption._lethe_quiet = True  # type: ignore[attr-defined]
