"""Pages of the e-mail channel: mailboxes with their checks and health, the quarantine.

Everything but a mail's full original needs ``channels.manage_mailboxes`` (the selectors
refuse with 403); the original is shown to whoever may see the ticket it became part of.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aftersales.channels import intake, parsing, selectors, services
from aftersales.channels.forms import MailboxForm, SendTestForm
from aftersales.channels.models import InboundMessage, Mailbox
from aftersales.core.errors import DomainError
from aftersales.web.shortcuts import add_domain_error, signed_in

QUARANTINE_PAGE = 100


@signed_in
@require_GET
def mailbox_list(request: HttpRequest) -> HttpResponse:
    mailboxes = list(selectors.mailboxes_visible_to(request.user))
    counts = selectors.status_counts(request.user)
    empty = {"total": 0, "tickets": 0, "replies": 0, "ignored": 0, "quarantined": 0, "waiting": 0}
    rows = [{"mailbox": m, "counts": counts.get(m.pk, empty)} for m in mailboxes]
    quarantined = selectors.quarantine_visible_to(request.user).count()
    return render(
        request,
        "channels/mailbox_list.html",
        {"rows": rows, "quarantined": quarantined},
    )


def _edit_page(
    request: HttpRequest,
    form: MailboxForm,
    mailbox: Mailbox | None,
    *,
    results: list[services.CheckResult] | None = None,
    test_form: SendTestForm | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "channels/mailbox_form.html",
        {
            "form": form,
            "mailbox": mailbox,
            "results": results,
            "test_form": test_form or SendTestForm(initial={"to": request.user.email}),  # type: ignore[union-attr]
        },
        status=status,
    )


@signed_in
@require_http_methods(["GET", "POST"])
def mailbox_create(request: HttpRequest) -> HttpResponse:
    selectors.mailboxes_visible_to(request.user)
    form = MailboxForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                mailbox = services.create_mailbox(actor=request.user, **form.service_arguments())
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("The mailbox has been saved."))
                return redirect("channels:mailbox_edit", pk=mailbox.pk)
        return _edit_page(request, form, None, status=422)
    return _edit_page(request, form, None)


@signed_in
@require_http_methods(["GET", "POST"])
def mailbox_edit(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = get_object_or_404(selectors.mailboxes_visible_to(request.user), pk=pk)
    if request.method != "POST":
        return _edit_page(request, MailboxForm(mailbox=mailbox), mailbox)
    form = MailboxForm(request.POST, mailbox=mailbox)
    if form.is_valid():
        version = request.POST.get("version", "")
        try:
            services.update_mailbox(
                actor=request.user,
                mailbox=mailbox,
                changes=form.service_arguments(),
                expected_version=int(version) if version.isdigit() else None,
            )
        except DomainError as error:
            if error.code == "stale_version":
                form.add_error(
                    None, _("Someone else saved this mailbox meanwhile. Reload and try again.")
                )
            else:
                add_domain_error(form, error)
        else:
            messages.success(request, _("The mailbox has been saved."))
            return redirect("channels:mailbox_edit", pk=mailbox.pk)
    return _edit_page(request, form, mailbox, status=422)


@signed_in
@require_POST
def mailbox_check(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = get_object_or_404(selectors.mailboxes_visible_to(request.user), pk=pk)
    results = services.check_connection(actor=request.user, mailbox=mailbox)
    mailbox.refresh_from_db()
    return _edit_page(request, MailboxForm(mailbox=mailbox), mailbox, results=results)


@signed_in
@require_POST
def mailbox_test(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = get_object_or_404(selectors.mailboxes_visible_to(request.user), pk=pk)
    test_form = SendTestForm(request.POST)
    results = None
    if test_form.is_valid():
        try:
            results = [
                services.send_test(
                    actor=request.user, mailbox=mailbox, to=test_form.cleaned_data["to"]
                )
            ]
        except DomainError as error:
            add_domain_error(test_form, error)
    status = 200 if results is not None else 422
    return _edit_page(
        request,
        MailboxForm(mailbox=mailbox),
        mailbox,
        results=results,
        test_form=test_form,
        status=status,
    )


@signed_in
@require_POST
def mailbox_fetch(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = get_object_or_404(selectors.mailboxes_visible_to(request.user), pk=pk)
    try:
        result = services.fetch_now(actor=request.user, mailbox=mailbox)
    except DomainError as error:
        messages.error(request, error.detail())
    else:
        messages.success(
            request,
            _("Fetched %(fetched)s messages, %(new)s new.")
            % {"fetched": result.fetched, "new": result.recorded},
        )
    return redirect("channels:mailbox_list")


@signed_in
@require_POST
def mailbox_delete(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = get_object_or_404(selectors.mailboxes_visible_to(request.user), pk=pk)
    try:
        services.delete_mailbox(actor=request.user, mailbox=mailbox)
    except DomainError as error:
        messages.error(request, error.detail())
        return redirect("channels:mailbox_edit", pk=mailbox.pk)
    messages.success(request, _("The mailbox has been removed."))
    return redirect("channels:mailbox_list")


@signed_in
@require_GET
def quarantine(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", InboundMessage.State.QUARANTINED)
    if state not in InboundMessage.State.values:
        state = InboundMessage.State.QUARANTINED
    rows = selectors.messages_visible_to(request.user).filter(state=state)[:QUARANTINE_PAGE]
    return render(
        request,
        "channels/quarantine.html",
        {"rows": rows, "state": state, "states": InboundMessage.State.choices},
    )


def _parsed(message: InboundMessage) -> parsing.ParsedMail | None:
    try:
        return parsing.parse(intake.raw_of(message))
    except parsing.MailError:
        return None


@signed_in
@require_GET
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(selectors.messages_visible_to(request.user).defer(None), pk=pk)
    mail = _parsed(message)
    context: dict[str, Any] = {
        "message": message,
        "mail": mail,
        "full": parsing.full_markup(mail) if mail is not None else "",
        "is_reprocessable": message.state
        in (InboundMessage.State.QUARANTINED, InboundMessage.State.IGNORED),
    }
    return render(request, "channels/message_detail.html", context)


@signed_in
@require_GET
def message_raw(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(selectors.messages_visible_to(request.user).defer(None), pk=pk)
    response = HttpResponse(intake.raw_of(message), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="message-{message.pk}.eml"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@signed_in
@require_POST
def message_reprocess(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(selectors.messages_visible_to(request.user), pk=pk)
    try:
        processed = services.reprocess_message(actor=request.user, message=message)
    except DomainError as error:
        messages.error(request, error.detail())
    else:
        messages.success(
            request,
            _("Processed again: %(state)s.") % {"state": processed.get_state_display()},
        )
    return redirect("channels:message_detail", pk=message.pk)


@signed_in
@require_GET
def message_original(request: HttpRequest, pk: int) -> HttpResponse:
    message = selectors.original_for(request.user, pk)
    mail = _parsed(message)
    return render(
        request,
        "channels/message_original.html",
        {
            "message": message,
            "mail": mail,
            "full": parsing.full_markup(mail) if mail is not None else "",
        },
    )
