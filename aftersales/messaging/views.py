"""Settings pages of the messaging platforms: accounts, their health, QR codes, messages.

All need ``messaging.manage_accounts``; the selectors narrow to the person's business lines,
so another line's account is a 404.
"""

from __future__ import annotations

from typing import Any

import segno
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from aftersales.core.errors import DomainError
from aftersales.messaging import selectors, services
from aftersales.messaging.forms import AccountForm, SendTestForm
from aftersales.messaging.models import InboundMessage, OutboundMessage, PlatformAccount
from aftersales.web.shortcuts import add_domain_error, require, signed_in

Kind = PlatformAccount.Kind


def callback_paths(account: PlatformAccount) -> list[tuple[str, str]]:
    """(label, path) of each URL to enter on the platform's side."""
    if account.kind == Kind.WECOM:
        return [
            (_("Callback URL"), reverse("messaging:wecom_callback", args=[account.key])),
            (_("Menu link to the portal"), reverse("messaging:wecom_portal", args=[account.key])),
        ]
    if account.kind == Kind.DINGTALK:
        return [
            (
                _("Event subscription URL"),
                reverse("messaging:dingtalk_callback", args=[account.key]),
            ),
            (_("Robot message URL"), reverse("messaging:dingtalk_robot", args=[account.key])),
        ]
    paths = [(_("Server URL"), reverse("messaging:wechat_callback", args=[account.key]))]
    if account.kind == Kind.WECHAT_OFFICIAL:
        paths.append(
            (_("Menu link to the portal"), reverse("messaging:wechat_portal", args=[account.key]))
        )
    else:
        paths.append(
            (
                _("Mini-program sign-in"),
                reverse("messaging:miniprogram_identify", args=[account.key]),
            )
        )
    return paths


@signed_in
def account_list(request: HttpRequest) -> HttpResponse:
    require(request, services.MANAGE)
    accounts = list(selectors.accounts_visible_to(request.user).order_by("name", "pk"))
    return render(request, "messaging/accounts.html", {"accounts": accounts})


def _form_page(
    request: HttpRequest, form: AccountForm, account: PlatformAccount | None, test_form: Any = None
) -> HttpResponse:
    context: dict[str, Any] = {"form": form, "account": account, "test_form": test_form}
    if account is not None:
        context["callbacks"] = [
            (label, request.build_absolute_uri(path)) for label, path in callback_paths(account)
        ]
        context["secrets"] = [
            (_("App secret"), bool(account.app_secret)),
            (_("Token"), bool(account.token)),
            (_("EncodingAESKey"), bool(account.encoding_aes_key)),
        ]
    return render(request, "messaging/account_form.html", context)


@signed_in
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest) -> HttpResponse:
    require(request, services.MANAGE)
    form = AccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.create_account(actor=request.user, **form.service_arguments())
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("The account has been saved."))
            return redirect("messaging:account_edit", pk=account.pk)
    return _form_page(request, form, None)


@signed_in
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(selectors.accounts_visible_to(request.user), pk=pk)
    if request.method == "POST":
        form = AccountForm(request.POST)
        if form.is_valid():
            version = request.POST.get("version", "")
            try:
                services.update_account(
                    actor=request.user,
                    account=account,
                    changes=form.service_arguments(),
                    expected_version=int(version) if version.isdigit() else None,
                )
            except DomainError as error:
                add_domain_error(form, error, show_denied=True)
            else:
                messages.success(request, _("The account has been saved."))
                return redirect("messaging:account_edit", pk=account.pk)
    else:
        form = AccountForm(initial=AccountForm.initial_of(account))
    return _form_page(request, form, account, SendTestForm())


@signed_in
@require_POST
def account_check(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(selectors.accounts_visible_to(request.user), pk=pk)
    if services.check_connection(actor=request.user, account=account):
        messages.success(request, _("Connected: the platform issued an access token."))
    else:
        messages.error(
            request,
            _("The platform refused: %(reason)s") % {"reason": account.health_detail},
        )
    return redirect("messaging:account_edit", pk=account.pk)


@signed_in
@require_POST
def account_test(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(selectors.accounts_visible_to(request.user), pk=pk)
    test_form = SendTestForm(request.POST)
    if test_form.is_valid():
        try:
            services.send_test(actor=request.user, account=account, **test_form.cleaned_data)
        except DomainError as error:
            add_domain_error(test_form, error)
        else:
            messages.success(request, _("The test message was sent."))
            return redirect("messaging:account_edit", pk=account.pk)
    form = AccountForm(initial=AccountForm.initial_of(account))
    return _form_page(request, form, account, test_form)


@signed_in
def account_qr(request: HttpRequest, pk: int) -> HttpResponse:
    """The portal link of an Official Account or WeCom application as a QR code, to print or
    put in the menu."""
    account = get_object_or_404(
        selectors.accounts_visible_to(request.user).filter(
            kind__in=[Kind.WECHAT_OFFICIAL, Kind.WECOM]
        ),
        pk=pk,
    )
    name = "messaging:wecom_portal" if account.kind == Kind.WECOM else "messaging:wechat_portal"
    link = request.build_absolute_uri(reverse(name, args=[account.key]))
    qr_svg = segno.make(link, error="m").svg_inline(scale=6, title=account.name)
    return render(
        request, "messaging/qr.html", {"account": account, "link": link, "qr_svg": qr_svg}
    )


@signed_in
def inbound_list(request: HttpRequest) -> HttpResponse:
    require(request, services.MANAGE)
    rows = selectors.inbound_visible_to(request.user)
    state = request.GET.get("state", "")
    if state in InboundMessage.State.values:
        rows = rows.filter(state=state)
    return render(
        request,
        "messaging/inbound.html",
        {
            "rows": list(rows.order_by("-received_at", "-pk")[:200]),
            "state": state,
            "states": InboundMessage.State.choices,
        },
    )


@signed_in
@require_POST
def inbound_retry(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(selectors.inbound_visible_to(request.user), pk=pk)
    try:
        services.retry_inbound(actor=request.user, message=message)
    except DomainError as error:
        messages.error(request, error.detail())
    else:
        messages.success(request, _("The message will be filed again."))
    return redirect("messaging:inbound")


@signed_in
def outbound_list(request: HttpRequest) -> HttpResponse:
    """Replies sent back through the platforms: what reached the customer, what did not."""
    require(request, services.MANAGE)
    rows = selectors.outbound_visible_to(request.user)
    status = request.GET.get("status", "")
    if status in OutboundMessage.Status.values:
        rows = rows.filter(status=status)
    return render(
        request,
        "messaging/outbound.html",
        {
            "rows": list(rows.order_by("-created_at", "-pk")[:200]),
            "status": status,
            "statuses": OutboundMessage.Status.choices,
        },
    )
