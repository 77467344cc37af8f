"""``python -m lethe`` runs the command line."""

from lethe.cli.app import entry

entry()
