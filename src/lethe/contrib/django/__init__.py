"""lethe inside a Django project: datasets by model, Django's ``on_delete`` honoured row for row,
``python manage.py lethe``, files and email through Django (docs/django.md).

Add ``"lethe.contrib.django"`` to ``INSTALLED_APPS`` and point the ``LETHE_CONFIG`` setting at the
policy file.
"""
