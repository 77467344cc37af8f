"""Validation runs and the receipts of validators' callbacks."""

from django.db import models


class ValidationRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "RUNNING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"

    submission = models.ForeignKey(
        "submissions.Submission", models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)


class CallbackReceipt(models.Model):
    run = models.ForeignKey(ValidationRun, models.CASCADE, null=True, related_name="receipts")
    payload = models.TextField(blank=True)
    received_at = models.DateTimeField(db_index=True)
