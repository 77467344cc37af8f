"""Census's surveys as the Census team describes them: a deletion date computed from the
retention period, a soft-delete marker, responses, and a legal hold with a removal date."""

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
    #: A file-upload question's answer; deleted from storage with the response.
    attachment = models.FileField(upload_to="responses/", blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)


class LegalHold(models.Model):
    """While ``removed_at`` is empty, the survey is kept whatever its deletion date."""

    survey = models.OneToOneField(Survey, models.CASCADE, related_name="legal_hold")
    reason = models.TextField()
    placed_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)
