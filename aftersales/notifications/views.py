"""Pages of notifications: the bell's list, preferences, templates, and the delivery log.

Views parse input, read through ``selectors``, call one ``services`` function and render.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from aftersales.accounts import authz
from aftersales.core.errors import DomainError
from aftersales.notifications import preferences, rendering, selectors, services
from aftersales.notifications.choices import Channel, Event
from aftersales.notifications.forms import TemplateForm
from aftersales.notifications.models import Delivery, NotificationTemplate
from aftersales.web.shortcuts import add_domain_error, signed_in

PAGE_SIZE = 30


# --- The bell ----------------------------------------------------------------------------------


@signed_in
def notification_list(request: HttpRequest) -> HttpResponse:
    """The person's own in-app notifications, newest first; only unread ones on request."""
    notifications = selectors.in_app_notifications_of(request.user).select_related("ticket")
    only_unread = request.GET.get("unread") == "1"
    if only_unread:
        notifications = notifications.filter(read_at__isnull=True)
    page = Paginator(notifications, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/list.html",
        {
            "page": page,
            "only_unread": only_unread,
            "query": "unread=1" if only_unread else "",
            "unread": selectors.unread_count(request.user),
            "may_read_log": authz.has_permission(request.user, services.VIEW_DELIVERY),
        },
    )


@signed_in
def bell(request: HttpRequest) -> HttpResponse:
    """The bell alone, for the top bar to refresh itself every minute (htmx)."""
    staff = getattr(request.user, "kind", "") == "staff"
    unread = selectors.unread_count(request.user) if staff else 0
    return render(request, "notifications/_bell.html", {"show": staff, "unread": unread})


@signed_in
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark read, then open what it is about (its ticket), else go back to the list."""
    notification = get_object_or_404(selectors.in_app_notifications_of(request.user), pk=pk)
    services.mark_read(actor=request.user, notification=notification)
    if notification.ticket is not None and request.POST.get("open") == "1":
        return redirect("tickets:ticket_detail", reference=notification.ticket.number)
    return redirect("notifications:list")


@signed_in
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    marked = services.mark_all_read(actor=request.user)
    messages.success(request, _("%(count)s notifications marked read.") % {"count": marked})
    return redirect("notifications:list")


@signed_in
def log_list(request: HttpRequest) -> HttpResponse:
    """Recent notifications in the person's scope with how each channel went; ``?status=``
    narrows to those with a delivery in that state (failed, pending…)."""
    notifications = selectors.logged_notifications_visible_to(request.user)
    status = request.GET.get("status", "")
    if status in Delivery.Status.values:
        notifications = notifications.filter(deliveries__status=status).distinct()
    notifications = notifications.select_related("ticket").prefetch_related("deliveries")
    page = Paginator(notifications.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "notifications/log_list.html",
        {
            "page": page,
            "status": status,
            "statuses": Delivery.Status.choices,
            "query": f"status={status}" if status in Delivery.Status.values else "",
        },
    )


@signed_in
def delivery_log(request: HttpRequest, pk: int) -> HttpResponse:
    """How one notification went out: each channel and each attempt."""
    notification = get_object_or_404(
        selectors.logged_notifications_visible_to(request.user).select_related("ticket"), pk=pk
    )
    return render(
        request,
        "notifications/log.html",
        {"notification": notification, "deliveries": selectors.deliveries_of(notification)},
    )


# --- Preferences -------------------------------------------------------------------------------


@signed_in
@require_http_methods(["GET", "POST"])
def preference_page(request: HttpRequest) -> HttpResponse:
    """Per event and channel, on or off; the defaults show until the person chooses."""
    user_id = int(request.user.pk or 0)
    if request.method == "POST":
        choices = {
            event: {
                channel: request.POST.get(f"{event}__{channel}") == "on"
                for channel in preferences.STAFF_CHANNELS
            }
            for event in Event.values
        }
        services.set_preferences(actor=request.user, choices=choices)
        messages.success(request, _("Your notification settings have been saved."))
        return redirect("notifications:preferences")
    matrix = preferences.matrix_for(user_id)
    rows = [
        {
            "event": event,
            "label": label,
            "cells": [
                {"name": f"{event}__{channel}", "channel": channel, "on": matrix[event][channel]}
                for channel in preferences.STAFF_CHANNELS
            ],
        }
        for event, label in Event.choices
    ]
    channels = [Channel(c).label for c in preferences.STAFF_CHANNELS]
    return render(request, "notifications/preferences.html", {"rows": rows, "channels": channels})


# --- Templates ---------------------------------------------------------------------------------


@signed_in
def template_list(request: HttpRequest) -> HttpResponse:
    templates = selectors.templates_visible_to(request.user)
    return render(
        request,
        "notifications/templates/list.html",
        {
            "templates": templates,
            "may_add": authz.has_permission(request.user, services.ADD_TEMPLATE),
            "may_change": authz.has_permission(request.user, services.CHANGE_TEMPLATE),
            "may_configure": authz.has_permission(request.user, services.CONFIGURE_CHANNELS),
            "may_read_log": authz.has_permission(request.user, services.VIEW_DELIVERY),
        },
    )


def _form_page(
    request: HttpRequest, form: TemplateForm, template: NotificationTemplate | None
) -> HttpResponse:
    return render(
        request,
        "notifications/templates/form.html",
        {
            "form": form,
            "template": template,
            "placeholders": rendering.placeholder_help(),
            "customer_placeholders": {
                row["placeholder"] for row in rendering.placeholder_help(for_customers=True)
            },
        },
    )


@signed_in
@require_http_methods(["GET", "POST"])
def template_create(request: HttpRequest) -> HttpResponse:
    authz.require_permission(request.user, services.ADD_TEMPLATE)
    form = TemplateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            template = services.create_template(actor=request.user, **form.service_arguments())
        except DomainError as error:
            add_domain_error(form, _with_input(form, error))
        else:
            messages.success(request, _("Template %(name)s has been saved.") % {"name": template})
            return redirect("notifications:template_list")
    return _form_page(request, form, None)


@signed_in
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(selectors.templates_visible_to(request.user), pk=pk)
    authz.require_permission(request.user, services.CHANGE_TEMPLATE)
    form = TemplateForm(request.POST if request.method == "POST" else None, template=template)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_template(
                actor=request.user,
                template=template,
                changes=form.service_arguments(),
                expected_version=_posted_version(request),
            )
        except DomainError as error:
            add_domain_error(form, _with_input(form, error))
        else:
            messages.success(request, _("Template %(name)s has been saved.") % {"name": template})
            return redirect("notifications:template_list")
    return _form_page(request, form, template)


def _posted_version(request: HttpRequest) -> int | None:
    value = request.POST.get("version", "")
    return int(value) if value.isdigit() else None


def _with_input(form: TemplateForm, error: DomainError) -> DomainError:
    """Name the textarea a content error is about, so it shows next to it."""
    error.field = form.input_of(error.field)
    return error
