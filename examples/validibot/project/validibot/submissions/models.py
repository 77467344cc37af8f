"""Submissions: the uploaded file and its text are purged at ``retain_until``; the row stays
for reporting, with ``content_purged_at`` saying when."""

from django.db import models


class Submission(models.Model):
    name = models.CharField(max_length=200)
    content = models.TextField(null=True, blank=True)
    content_file = models.FileField(upload_to="submissions/", null=True, blank=True)
    retain_until = models.DateTimeField()
    content_purged_at = models.DateTimeField(null=True, blank=True)
