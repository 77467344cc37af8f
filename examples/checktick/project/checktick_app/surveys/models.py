"""CheckTick's surveys (Census's, its predecessor): a deletion date computed from the retention
period, a soft-delete marker, responses, a legal hold with a removal date, and the three kinds
of progress records that ``cleanup_survey_progress`` deletes."""

from django.conf import settings
from django.db import models


class Survey(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="surveys")
    name = models.CharField(max_length=200)
    #: 6 to 24 months; the deletion date is the survey's closing date plus this.
    retention_months = models.PositiveSmallIntegerField(default=6)
    deletion_date = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)


class SurveyResponse(models.Model):
    survey = models.ForeignKey(Survey, models.CASCADE, related_name="responses")
    answers = models.JSONField(default=dict)
    submitted_at = models.DateTimeField(auto_now_add=True)


class LegalHold(models.Model):
    """While ``removed_at`` is empty, the survey is kept whatever its deletion date."""

    survey = models.OneToOneField(Survey, models.CASCADE, related_name="legal_hold")
    reason = models.TextField()
    placed_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)


class SurveyProgress(models.Model):
    """A respondent's unfinished answers: anonymous (by session key), authenticated (by user)
    or token-based (by access token). Completed progress is not a draft any more."""

    survey = models.ForeignKey(Survey, models.CASCADE, related_name="progress")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, null=True, blank=True, related_name="+"
    )
    session_key = models.CharField(max_length=40, null=True, blank=True)
    access_token = models.CharField(max_length=64, null=True, blank=True)
    answers = models.JSONField(default=dict)
    is_complete = models.BooleanField(default=False)
    updated_at = models.DateTimeField()
