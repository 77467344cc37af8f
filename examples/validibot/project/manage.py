#!/usr/bin/env python
"""Validibot's ``manage.py``: the six scheduled commands become ``python manage.py lethe``."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
