"""Policy files: models, loading, environment interpolation, durations and the JSON Schema."""

from lethe.config.durations import Duration, parse_duration
from lethe.config.loader import DEFAULT_CONFIG, Settings, load, load_file
from lethe.config.model import LetheConfig

__all__ = [
    "DEFAULT_CONFIG",
    "Duration",
    "LetheConfig",
    "Settings",
    "load",
    "load_file",
    "parse_duration",
]
