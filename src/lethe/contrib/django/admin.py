"""lethe's holds and runs in the Django admin.

Holds: the registry with its history (released holds stay, filtered by status); *Add hold*
places one and a hold's page releases it, both through lethe's API, so each is an audited
``hold_placed``/``hold_released`` event exactly as ``lethe hold add``/``release`` writes it.
Holds are never deleted. Runs: read-only, with each phase's counts and the run's errors.
Both read the database ``state.url = "django://ALIAS"`` names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join

from lethe.contrib.django.models import Hold, Run
from lethe.contrib.django.state import StateNotInDjango, policy, state_alias
from lethe.errors import LetheError

__all__ = ["HoldAdmin", "RunAdmin"]

if TYPE_CHECKING:  # generic only in django-stubs
    _HoldForm = forms.ModelForm[Hold]
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _HoldForm = forms.ModelForm
    _ModelAdmin = admin.ModelAdmin


def _user(request: HttpRequest) -> str:
    user = request.user
    name = user.get_username() if user.is_authenticated else "anonymous"
    return f"{name} (Django admin)"


class PlaceHoldForm(_HoldForm):
    """A new hold: which item, and why."""

    dataset = forms.ChoiceField()
    item_key = forms.CharField(
        label="Key", help_text="The item's key; ending in * it holds every key with that prefix."
    )
    reason = forms.CharField(widget=forms.Textarea, help_text="Kept in the history and audit.")

    class Meta:
        model = Hold
        fields = ("dataset", "item_key", "reason")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = sorted(policy().settings.config.datasets)
        self.fields["dataset"].choices = [(n, n) for n in names]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        dataset, key = data.get("dataset"), data.get("item_key")
        if dataset and key:
            try:
                data["item_key"] = policy().hold_key(dataset, key)
            except LetheError as exc:
                raise forms.ValidationError(str(exc)) from None
        return data


class ReleaseHoldForm(_HoldForm):
    """Releasing an active hold: why (the hold stays in the history)."""

    release = forms.BooleanField(required=False, label="Release this hold")
    why = forms.CharField(
        required=False, widget=forms.Textarea, label="Release reason", help_text="Kept."
    )

    class Meta:
        model = Hold
        fields: tuple[str, ...] = ()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("release") and not data.get("why"):
            self.add_error("why", "Say why the hold is released.")
        return data


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("released", "released")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "active":
            return queryset.filter(released_at__isnull=True)
        if self.value() == "released":
            return queryset.filter(released_at__isnull=False)
        return queryset


class _StateAdmin(_ModelAdmin):
    """Shared: say so when the state is not in a Django database, never delete."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            state_alias()
            policy().runtime.state.migrate()  # lethe's tables, before its first run made them
        except StateNotInDjango as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponse(str(exc), status=503, content_type="text/plain")
        except LetheError as exc:
            return HttpResponse(f"lethe: {exc}", status=500, content_type="text/plain")
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Hold)
class HoldAdmin(_StateAdmin):
    """Place, release and look through lethe's holds."""

    list_display = ("id", "dataset", "item_key", "status", "reason", "placed_by", "placed_at")
    list_filter = (StatusFilter, "dataset")
    search_fields = ("item_key", "reason", "placed_by", "released_by")
    readonly = (
        "dataset",
        "item_key",
        "reason",
        "placed_by",
        "placed_at",
        "released_at",
        "released_by",
        "release_reason",
    )

    @admin.display(description="status")
    def status(self, obj: Hold) -> str:
        return "active" if obj.active else "released"

    def get_form(
        self, request: HttpRequest, obj: Hold | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = PlaceHoldForm if obj is None else ReleaseHoldForm
        if obj is not None:
            kwargs["fields"] = ("release", "why") if obj.active else ()
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Hold | None = None) -> Any:
        if obj is None:
            return ("dataset", "item_key", "reason")
        return (*self.readonly, *(("release", "why") if obj.active else ()))

    def get_readonly_fields(self, request: HttpRequest, obj: Hold | None = None) -> Any:
        return self.readonly if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Hold, form: Any, change: bool) -> None:
        lethe = policy()
        if not change:
            data = form.cleaned_data
            hold = lethe.place_hold(
                data["dataset"], data["item_key"], data["reason"], _user(request)
            )
            obj.pk = hold.id
        elif form.cleaned_data.get("release"):
            lethe.holds.release(obj.id, _user(request), form.cleaned_data["why"])

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing: a hold has no related rows, and the ORM never writes lethe's tables."""


@admin.register(Run)
class RunAdmin(_StateAdmin):
    """lethe's recorded runs, read-only."""

    list_display = ("id", "status", "dry_run", "started_at", "completed_at", "acted", "errors")
    list_filter = ("status", "dry_run")
    search_fields = ("id",)
    fields = ("id", "status", "dry_run", "as_of", "started_at", "completed_at", "counts", "errs")
    readonly_fields = fields

    @admin.display(description="acted on")
    def acted(self, obj: Run) -> int:
        return obj.acted()

    @admin.display(description="errors")
    def errors(self, obj: Run) -> int:
        return len(obj.errors())

    @admin.display(description="phases")
    def counts(self, obj: Run) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    p.get("policy"),
                    p.get("dataset"),
                    f"[{p.get('phase')}] {p.get('action')}",
                    p.get("acted", 0),
                    p.get("held", 0),
                    ", ".join(f"{t}: {n}" for t, n in (p.get("cascade") or {}).items()) or "-",
                )
                for p in obj.phases()
            ),
        )
        head = "<tr><th>policy</th><th>dataset</th><th>phase</th><th>acted</th><th>held</th>"
        return format_html("<table>{}{}</table>", format_html(head + "<th>cascade</th></tr>"), rows)

    @admin.display(description="errors")
    def errs(self, obj: Run) -> str:
        found = obj.errors()
        if not found:
            return "none"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((e,) for e in found))
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
