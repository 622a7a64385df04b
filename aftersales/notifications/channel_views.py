"""Pages of channel settings: default notifications, group robots, the SMS gateway.

All need ``notifications.configure_channels`` (the selectors refuse with 403). Secrets are
never rendered back: the forms leave them empty, and an empty secret keeps the stored one.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from aftersales.core.errors import DomainError
from aftersales.notifications import channel_settings, selectors
from aftersales.notifications.forms import RobotForm, SmsProviderForm
from aftersales.notifications.models import ChatRobot, NotificationTemplate
from aftersales.web.shortcuts import add_domain_error, signed_in


@signed_in
def channel_page(request: HttpRequest) -> HttpResponse:
    reactions = list(selectors.reactions_visible_to(request.user))
    robots = [
        {"robot": robot, "webhook_url": channel_settings.mask_url(robot.webhook_url)}
        for robot in selectors.robots_visible_to(request.user)
    ]
    provider = selectors.sms_provider(request.user)
    return render(
        request,
        "notifications/channels.html",
        {
            "reactions": reactions,
            "templates": NotificationTemplate.objects.filter(is_active=True),
            "robots": robots,
            "provider": provider,
            "provider_url": channel_settings.mask_url(provider.url_template) if provider else "",
        },
    )


@signed_in
@require_POST
def reaction_update(request: HttpRequest, pk: int) -> HttpResponse:
    reaction = get_object_or_404(selectors.reactions_visible_to(request.user), pk=pk)
    changes: dict[str, Any] = {"is_enabled": request.POST.get("is_enabled") == "on"}
    template_id = request.POST.get("template", "")
    if template_id.isdigit():
        changes["template"] = NotificationTemplate.objects.filter(pk=int(template_id)).first()
    try:
        channel_settings.update_reaction(actor=request.user, reaction=reaction, changes=changes)
    except DomainError as error:
        messages.error(request, error.detail())
    else:
        messages.success(request, _("The default notification has been saved."))
    return redirect("notifications:channels")


def _robot_page(request: HttpRequest, form: RobotForm, robot: ChatRobot | None) -> HttpResponse:
    return render(request, "notifications/robot_form.html", {"form": form, "robot": robot})


@signed_in
@require_http_methods(["GET", "POST"])
def robot_create(request: HttpRequest) -> HttpResponse:
    selectors.robots_visible_to(request.user)
    form = RobotForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            channel_settings.create_robot(actor=request.user, **form.service_arguments())
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The group robot has been saved."))
            return redirect("notifications:channels")
    return _robot_page(request, form, None)


@signed_in
@require_http_methods(["GET", "POST"])
def robot_edit(request: HttpRequest, pk: int) -> HttpResponse:
    robot = get_object_or_404(selectors.robots_visible_to(request.user), pk=pk)
    initial = {
        "name": robot.name,
        "kind": robot.kind,
        "message_type": robot.message_type,
        "webhook_url": "",
        "team": robot.team_id,
        "is_active": robot.is_active,
    }
    form = RobotForm(request.POST if request.method == "POST" else None, initial=initial)
    form.fields["webhook_url"].required = False
    form.fields["webhook_url"].help_text = _("Stored: %(url)s. Leave empty to keep it.") % {
        "url": channel_settings.mask_url(robot.webhook_url)
    }
    if request.method == "POST" and form.is_valid():
        changes = form.service_arguments()
        if not changes.get("webhook_url"):
            changes.pop("webhook_url")
        try:
            channel_settings.update_robot(actor=request.user, robot=robot, changes=changes)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The group robot has been saved."))
            return redirect("notifications:channels")
    return _robot_page(request, form, robot)


@signed_in
@require_POST
def robot_delete(request: HttpRequest, pk: int) -> HttpResponse:
    robot = get_object_or_404(selectors.robots_visible_to(request.user), pk=pk)
    channel_settings.delete_robot(actor=request.user, robot=robot)
    messages.success(request, _("The group robot has been removed."))
    return redirect("notifications:channels")


@signed_in
@require_http_methods(["GET", "POST"])
def sms_edit(request: HttpRequest) -> HttpResponse:
    provider = selectors.sms_provider(request.user)
    initial: dict[str, Any] = {
        "content_type": "application/json",
        "signature_header": "X-Signature",
    }
    if provider is not None:
        initial = {
            name: getattr(provider, name)
            for name in (
                "name",
                "url_template",
                "method",
                "body_template",
                "content_type",
                "signature_header",
                "is_active",
            )
        }
    stored_url = initial.get("url_template", "")
    hides_secret = bool(stored_url) and channel_settings.mask_url(stored_url) != stored_url
    if hides_secret:
        initial["url_template"] = ""
    form = SmsProviderForm(request.POST if request.method == "POST" else None, initial=initial)
    if hides_secret:
        form.fields["url_template"].required = False
        form.fields["url_template"].help_text = _("Stored: %(url)s. Leave empty to keep it.") % {
            "url": channel_settings.mask_url(stored_url)
        }
    if request.method == "POST" and form.is_valid():
        changes = form.service_arguments()
        if hides_secret and not changes.get("url_template"):
            changes.pop("url_template")
        try:
            channel_settings.save_sms_provider(actor=request.user, changes=changes)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The SMS gateway has been saved."))
            return redirect("notifications:channels")
    return render(request, "notifications/sms_form.html", {"form": form, "provider": provider})
