"""``python manage.py seed [--now ISO]``: rows on both sides of every retention boundary, and
a real uploaded file for each submission."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from validibot.api.models import IdempotencyKey
from validibot.submissions.models import Submission
from validibot.validations.models import CallbackReceipt, ValidationRun


class Command(BaseCommand):
    help = "Sessions, idempotency keys, receipts, submissions and runs around --now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", type=datetime.fromisoformat, default=None)

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        now = options["now"] or datetime.now(UTC)
        seed(now)
        self.stdout.write(f"seeded Validibot around {now.isoformat()}")


def seed(now: datetime) -> None:
    """Every table's rows, relative to ``now`` (ids fixed, for the tests)."""
    for i, hours in enumerate((-48, -1, 1, 240)):  # s0, s1 expired; s2, s3 live
        Session.objects.create(
            session_key=f"s{i}", session_data="{}", expire_date=now + timedelta(hours=hours)
        )
    for i, hours in enumerate((30, 25, 23, 1), start=1):  # older than 24 h: 1, 2
        IdempotencyKey.objects.create(
            id=i, key=f"k{i}", response_body="{}", created_at=now - timedelta(hours=hours)
        )
    for i, days in enumerate((45, 31, 29, 2), start=1):  # older than 30 days: 1, 2
        CallbackReceipt.objects.create(id=i, payload="{}", received_at=now - timedelta(days=days))
    # 1 past its retention (purged), 2 kept six more days, 3 purged nine days ago.
    for i, days, content in ((1, -1, "<xml/>"), (2, 6, "<xml/>"), (3, -10, None)):
        submission = Submission(
            id=i,
            name=f"model-{i}.idf",
            content=content,
            retain_until=now + timedelta(days=days),
            content_purged_at=now - timedelta(days=9) if content is None else None,
        )
        if content is not None:
            submission.content_file.save(f"model-{i}.idf", ContentFile(b"Version,9.6;"), save=False)
        submission.save()
    for i, status, started, finished in (
        (1, "RUNNING", 95, None),  # stuck
        (2, "RUNNING", 31, None),  # stuck
        (3, "RUNNING", 10, None),  # running
        (4, "SUCCEEDED", 300, 240),
    ):
        ValidationRun.objects.create(
            id=i,
            submission_id=1 + i % 3,
            status=status,
            started_at=now - timedelta(minutes=started),
            finished_at=now - timedelta(minutes=finished) if finished else None,
        )
