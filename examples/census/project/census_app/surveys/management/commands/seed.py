"""``python manage.py seed [--now ISO]``: surveys on both sides of every boundary of the policy."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from census_app.surveys.models import LegalHold, Survey, SurveyResponse

# id: (days until deletion date, days since soft delete or None, legal hold state)
SURVEYS = {
    1: (-3, None, None),  # due: soft-deleted by the run
    2: (-45, 35, None),  # soft-deleted 35 days ago: hard-deleted with its responses
    3: (-10, None, "active"),  # under legal hold: skipped
    4: (-60, 40, "active"),  # soft-deleted, then held: skipped too
    5: (-40, 10, None),  # soft-deleted 10 days ago: still in its grace period
    6: (20, None, None),  # not due yet
    7: (-90, 50, "released"),  # hold released: hard-deleted
}


class Command(BaseCommand):
    help = "Create two owners and seven surveys around --now (default: the current time)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", type=datetime.fromisoformat, default=None)

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        now = options["now"] or datetime.now(UTC)
        seed(now)
        self.stdout.write(f"seeded {len(SURVEYS)} surveys around {now.isoformat()}")


def seed(now: datetime) -> None:
    """The surveys of :data:`SURVEYS`, three responses each (one with a file), around ``now``."""
    owners = [
        get_user_model().objects.create(id=i, username=f"owner{i}", email=f"owner{i}@example.org")
        for i in (1, 2)
    ]
    for survey_id, (due_in, deleted_ago, hold) in SURVEYS.items():
        survey = Survey.objects.create(
            id=survey_id,
            owner=owners[survey_id % 2],
            name=f"Survey {survey_id}",
            retention_months=12,
            deletion_date=now + timedelta(days=due_in),
            deleted_at=now - timedelta(days=deleted_ago) if deleted_ago else None,
        )
        for number in range(1, 4):  # the first response of each survey uploaded a file
            response = SurveyResponse(survey=survey, answers={"q1": "yes"})
            if number == 1:
                name = f"survey-{survey_id}.pdf"
                response.attachment.save(name, ContentFile(b"%PDF-1.4"), save=False)
            response.save()
        if hold:
            LegalHold.objects.create(
                survey=survey,
                reason="litigation",
                placed_at=now - timedelta(days=100),
                removed_at=now - timedelta(days=60) if hold == "released" else None,
            )
