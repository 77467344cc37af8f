#!/usr/bin/env python
"""CheckTick's ``manage.py``: ``python manage.py lethe run`` replaces both scheduled commands."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "checktick_app.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
