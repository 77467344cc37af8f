#!/usr/bin/env python
"""Census's ``manage.py``: ``python manage.py lethe run`` replaces ``process_data_governance``."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "census_app.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
