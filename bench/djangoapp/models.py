"""The therapy-app schema as Django models, as its users would declare it."""

from django.db import models


class Profile(models.Model):
    email = models.TextField()
    role = models.TextField()
    deletion_scheduled_at = models.DateTimeField(null=True)
    deleted_at = models.DateTimeField(null=True)

    class Meta:
        app_label = "djangoapp"
        db_table = "profiles"
        managed = False


def _child(table: str, *roles: str) -> type[models.Model]:
    attrs: dict[str, object] = {
        "__module__": __name__,
        "note": models.TextField(null=True),
        "Meta": type("Meta", (), {"app_label": "djangoapp", "db_table": table, "managed": False}),
    }
    for role in roles:
        attrs[role] = models.ForeignKey(
            Profile, models.CASCADE, related_name="+", db_column=f"{role}_id"
        )
    return type(table.title().replace("_", ""), (models.Model,), attrs)


CheckIn = _child("check_ins", "user")
CrisisPlan = _child("crisis_plan", "user")
ClinicalNote = _child("clinical_notes", "patient", "therapist")
TherapistPatient = _child("therapist_patients", "patient", "therapist")
UserConsent = _child("user_consent", "user")
