"""lethe's holds and runs for the admin: unmanaged, so no table is created or changed."""

from typing import ClassVar

from django.db import migrations, models

import lethe.contrib.django.models


class Migration(migrations.Migration):
    initial = True

    dependencies: ClassVar[list[tuple[str, str]]] = []

    operations: ClassVar[list[migrations.operations.base.Operation]] = [
        migrations.CreateModel(
            name="Hold",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("dataset", models.CharField(max_length=128)),
                ("item_key", models.TextField(verbose_name="key")),
                ("reason", models.TextField()),
                ("placed_by", models.CharField(max_length=256)),
                ("placed_at", models.DateTimeField()),
                ("released_at", models.DateTimeField(blank=True, null=True)),
                ("released_by", models.CharField(blank=True, max_length=256, null=True)),
                ("release_reason", models.TextField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "hold",
                "db_table": "lethe_holds",
                "ordering": ("-placed_at", "-id"),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Run",
            fields=[
                ("id", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("policies", lethe.contrib.django.models.StateJSONField()),
                ("dry_run", models.BooleanField()),
                ("as_of", models.DateTimeField()),
                ("started_at", models.DateTimeField()),
                ("completed_at", models.DateTimeField(null=True)),
                ("status", models.CharField(max_length=16)),
                ("record", lethe.contrib.django.models.StateJSONField(null=True)),
            ],
            options={
                "verbose_name": "run",
                "db_table": "lethe_runs",
                "ordering": ("-started_at",),
                "managed": False,
            },
        ),
    ]
