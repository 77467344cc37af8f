"""API idempotency keys: a replayed request within 24 hours gets the first response."""

from django.db import models


class IdempotencyKey(models.Model):
    key = models.CharField(max_length=64, unique=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(db_index=True)
