"""Every ``on_delete`` kind Django has, around ``auth.User`` (with allauth's email addresses,
auditlog's entries, taggit's tags and contrib-comments' comments): the oracle's schema."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django_comments.models import Comment
from taggit.managers import TaggableManager

USER = settings.AUTH_USER_MODEL
SENTINEL = 1  # the user that SET_DEFAULT and SET() hand rows over to (never due)


def sentinel() -> Any:
    """``SET(sentinel)``: a callable returning a model instance."""
    return User.objects.get(pk=SENTINEL)


class Attachment(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveIntegerField()
    content_object = GenericForeignKey("content_type", "object_id")


class Folder(models.Model):
    owner = models.ForeignKey(USER, on_delete=models.CASCADE)
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, related_name="+")


class Note(models.Model):
    owner = models.ForeignKey(USER, on_delete=models.CASCADE, null=True, related_name="+")
    author = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True)
    folder = models.ForeignKey(Folder, on_delete=models.SET_NULL, null=True)
    attachments = GenericRelation(Attachment)
    comments = GenericRelation(Comment, object_id_field="object_pk")
    tags = TaggableManager(blank=True)
    due_at = models.DateTimeField(null=True)


class Order(models.Model):
    customer = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, null=True)


class Invoice(models.Model):
    customer = models.ForeignKey(USER, on_delete=models.RESTRICT, related_name="+")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, null=True)


class Ticket(models.Model):
    assignee = models.ForeignKey(USER, on_delete=models.SET_DEFAULT, default=SENTINEL)
    reviewer = models.ForeignKey(USER, on_delete=models.SET(sentinel), null=True, related_name="+")


class Trail(models.Model):
    """DO_NOTHING with the database's constraint: the delete is refused by the database."""

    user = models.ForeignKey(USER, on_delete=models.DO_NOTHING, null=True, related_name="+")


class Loose(models.Model):
    """No constraint: DO_NOTHING leaves a dangling id; CASCADE still deletes (in Python)."""

    user = models.ForeignKey(
        USER, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    mirror = models.ForeignKey(
        USER, on_delete=models.CASCADE, db_constraint=False, null=True, related_name="+"
    )


class Team(models.Model):
    members = models.ManyToManyField(USER, related_name="+")
    clubbers = models.ManyToManyField(USER, through="Membership", related_name="+")


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE)
    user = models.ForeignKey(USER, on_delete=models.CASCADE)


class Place(models.Model):
    owner = models.ForeignKey(USER, on_delete=models.CASCADE, null=True, related_name="+")


class Restaurant(Place):
    """Multi-table inheritance: its row in oracle_place goes with it, and vice versa."""

    manager = models.ForeignKey(USER, on_delete=models.CASCADE, null=True, related_name="+")
    opened_at = models.DateField(null=True)


class Review(models.Model):
    place = models.ForeignKey(Place, on_delete=models.CASCADE)
    author = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, related_name="+")


class Licence(models.Model):
    place = models.ForeignKey(Place, on_delete=models.PROTECT)


class Member(User):
    class Meta:
        proxy = True


class Badge(models.Model):
    holder = models.ForeignKey(Member, on_delete=models.CASCADE)


class Document(models.Model):
    owner = models.ForeignKey(USER, on_delete=models.CASCADE)
    file = models.FileField(upload_to="docs/")
