"""The audit log page: filter, read newest first, page back in time. Nothing here edits it."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from aftersales.accounts import authz
from aftersales.accounts import selectors as account_selectors
from aftersales.accounts.models import User
from aftersales.audit import selectors
from aftersales.audit.models import AuditEntry
from aftersales.core.forms import model_field
from aftersales.web.shortcuts import require, signed_in

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    actor = forms.ModelChoiceField(
        label=_("Actor"), queryset=User.objects.none(), required=False, empty_label=_("Anyone")
    )
    action = forms.ChoiceField(
        label=_("Action"),
        required=False,
        choices=[("", _("Any action")), *AuditEntry.Action.choices],
    )
    object_type = forms.CharField(
        label=_("Object type"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "accounts.user"}),
    )
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=64)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    q = forms.CharField(
        label=_("Text"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    before = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, actors: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "actor").queryset = actors

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """The date range as aware datetimes; "to" includes its whole day."""
        since = self.cleaned_data.get("since")
        until = self.cleaned_data.get("until")
        start = timezone.make_aware(datetime.combine(since, time.min)) if since else None
        end = (
            timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min))
            if until
            else None
        )
        return start, end

    def api_query(self) -> dict[str, str]:
        """The same filters in the form the API export understands."""
        data = self.cleaned_data
        start, end = self.bounds()
        query: dict[str, str] = {}
        if data.get("actor") is not None:
            query["actor"] = str(data["actor"].pk)
        for name in ("action", "object_type", "object_id", "q"):
            if data.get(name):
                query[name] = data[name]
        if start is not None:
            query["since"] = start.isoformat()
        if end is not None:
            query["until"] = end.isoformat()
        return query


def _apply(entries: QuerySet[AuditEntry], form: AuditFilterForm) -> QuerySet[AuditEntry]:
    data = form.cleaned_data
    if data.get("actor") is not None:
        entries = entries.filter(actor_id=data["actor"].pk)
    if data.get("action"):
        entries = entries.filter(action=data["action"])
    if data.get("object_type"):
        entries = entries.filter(object_type=data["object_type"])
    if data.get("object_id"):
        entries = entries.filter(object_id=data["object_id"])
    start, end = form.bounds()
    if start is not None:
        entries = entries.filter(at__gte=start)
    if end is not None:
        entries = entries.filter(at__lt=end)
    if data.get("q"):
        text = data["q"]
        entries = entries.filter(
            Q(object_repr__icontains=text)
            | Q(actor_label__icontains=text)
            | Q(verb__icontains=text)
        )
    return entries


@require_GET
@signed_in
def entry_list(request: HttpRequest) -> HttpResponse:
    """Newest first; "older" pages by the last id seen (keyset), so deep pages stay fast."""
    require(request, "audit.view_auditentry")
    form = AuditFilterForm(request.GET, actors=account_selectors.users_visible_to(request.user))
    entries = selectors.entries_visible_to(request.user).order_by("-pk")
    page: list[AuditEntry] = []
    older_url = ""
    export_url = ""
    if form.is_valid():
        entries = _apply(entries, form)
        before = form.cleaned_data.get("before")
        if before:
            entries = entries.filter(pk__lt=before)
        page = list(entries[: PAGE_SIZE + 1])
        filters = form.api_query()
        page_filters = {k: v for k, v in request.GET.items() if k != "before" and v}
        if len(page) > PAGE_SIZE:
            page = page[:PAGE_SIZE]
            older_url = "?" + urlencode({**page_filters, "before": page[-1].pk})
        if authz.has_permission(request.user, "audit.export_auditentry"):
            export_url = "/api/v1/audit/export" + ("?" + urlencode(filters) if filters else "")
    return render(
        request,
        "audit/entry_list.html",
        {
            "form": form,
            "entries": page,
            "older_url": older_url,
            "export_url": export_url,
            "show_ip": authz.can_read_field(request.user, "audit.auditentry", "ip_address"),
            "paged": bool(form.is_valid() and form.cleaned_data.get("before")),
        },
    )
