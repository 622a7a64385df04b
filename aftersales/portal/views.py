"""The customer portal's pages: sign-in, my requests, a request's public conversation, a new
request with article suggestions, the public knowledge base, and secret tracking links.

Customers see their own requests (and their organisation's when allowed) through the tickets
selectors, so another customer's request is a 404 whatever id or number is typed. Nothing
internal is shown: public replies only, staff by display name, no SLA or assignment details.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, logout, update_session_auth_hash
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aftersales.accounts import forms as account_forms
from aftersales.accounts import services as account_services
from aftersales.accounts.models import User
from aftersales.core.errors import DomainError, NotFound
from aftersales.customers.models import Customer
from aftersales.customfields import services as customfields
from aftersales.customfields.errors import FieldErrors
from aftersales.customfields.forms import CustomFieldsForm
from aftersales.customfields.models import FieldDefinition
from aftersales.knowledge import selectors as knowledge_selectors
from aftersales.knowledge import services as knowledge_services
from aftersales.knowledge.models import Article
from aftersales.portal import forms as portal_forms
from aftersales.portal import services
from aftersales.surveys import selectors as survey_selectors
from aftersales.surveys import services as survey_services
from aftersales.surveys.models import Survey
from aftersales.tickets import selectors as ticket_selectors
from aftersales.tickets import workspace_forms as wf
from aftersales.tickets.models import Attachment, Comment, Ticket, TicketStatus, TicketType
from aftersales.tickets.models import form_key_of as ticket_form_key
from aftersales.tickets.services import conversation
from aftersales.tickets.services import tickets as ticket_services
from aftersales.web.shortcuts import add_domain_error, file_download, is_htmx

TARGET = "tickets.ticket"
Category = TicketStatus.Category
NEXT_KEY = "portal_next"
CODE_ADDRESS_KEY = "portal_code_address"


def _status_words() -> dict[str, str]:
    return {
        Category.NEW: _("Received"),
        Category.OPEN: _("We are working on it"),
        Category.PENDING_CUSTOMER: _("Waiting for your reply"),
        Category.PENDING_INTERNAL: _("We are working on it"),
        Category.SOLVED: _("Solved"),
        Category.CLOSED: _("Closed"),
    }


def status_words(ticket: Ticket) -> str:
    """The status as a customer reads it: what it means for them, not our internal step."""
    return _status_words().get(ticket.status_category, _("Received"))


def _customer(request: HttpRequest) -> Customer | None:
    return services.portal_customer(request.user)


def customer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A signed-in customer, else the portal's sign-in page (which comes back here)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _customer(request) is None:
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('portal:sign_in')}?{query}")
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            raise Http404 from None

    return wrapper


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("portal:home")


# --- Home and my requests ---------------------------------------------------------------------


def _my_requests(user: Any, show: str) -> QuerySet[Ticket]:
    tickets = ticket_selectors.tickets_visible_to(user).order_by("-updated_at", "-pk")
    if show == "open":
        tickets = tickets.exclude(status_category__in=[Category.SOLVED, Category.CLOSED])
    elif show == "closed":
        tickets = tickets.filter(status_category__in=[Category.SOLVED, Category.CLOSED])
    return tickets


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Signed in: my requests. Otherwise: how to sign in, submit without an account, or look
    for an answer first."""
    customer = _customer(request)
    if customer is None:
        return render(request, "portal/landing.html", {"is_staff": _is_staff(request)})
    show = request.GET.get("show", "open")
    if show not in {"open", "closed", "all"}:
        show = "open"
    tickets = list(_my_requests(request.user, show)[:100])
    rows = [
        {
            "ticket": ticket,
            "status": status_words(ticket),
            "is_mine": ticket.requester_id == customer.pk,
        }
        for ticket in tickets
    ]
    return render(
        request,
        "portal/home.html",
        {"customer": customer, "rows": rows, "show": show},
    )


def _is_staff(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_authenticated and getattr(user, "kind", "") != User.Kind.CUSTOMER)


# --- Sign-in --------------------------------------------------------------------------------------


def _remember_next(request: HttpRequest) -> None:
    candidate = request.GET.get("next") or request.POST.get("next")
    if candidate:
        request.session[NEXT_KEY] = _safe_next(request, candidate)


def _after_sign_in(request: HttpRequest) -> HttpResponse:
    target = request.session.pop(NEXT_KEY, None)
    return redirect(_safe_next(request, target))


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """Password sign-in for customers; staff are sent to their own sign-in page."""
    if _customer(request) is not None:
        return redirect("portal:home")
    _remember_next(request)
    form = portal_forms.PasswordSignInForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip()
        login_name = _login_name(username)
        if account_services.login_is_locked(login_name):
            account_services.record_failed_login(username=login_name, reason="locked")
            form.add_error(
                None,
                _("Too many failed attempts. Sign in with a code, or try again later."),
            )
        else:
            user = authenticate(
                request, username=login_name, password=form.cleaned_data["password"]
            )
            customer = services.portal_customer(user) if user is not None else None
            if user is None or customer is None:
                account_services.record_failed_login(username=login_name, reason="bad_credentials")
                form.add_error(None, _("The sign-in name or password is not correct."))
            else:
                services.open_portal_session(request, customer=customer)
                account_services.record_login(user=user, method="portal_password")
                return _after_sign_in(request)
    return render(request, "portal/sign_in.html", {"form": form})


def _login_name(entered: str) -> str:
    """Customers may type the phone number they are known by; staff logins are not found here."""
    if "@" in entered or not any(ch.isdigit() for ch in entered):
        return entered
    try:
        address = services.parse_address(entered)
    except DomainError:
        return entered
    login = (
        User.objects.filter(kind=User.Kind.CUSTOMER, phone=address.value)
        .values_list("username", flat=True)
        .first()
    )
    return login or entered


@never_cache
@require_http_methods(["GET", "POST"])
def code_request(request: HttpRequest) -> HttpResponse:
    """Ask for a one-time code by e-mail or text message."""
    _remember_next(request)
    form = portal_forms.CodeRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            address = services.parse_address(form.cleaned_data["address"])
            services.request_sign_in_code(address=address.value)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            request.session[CODE_ADDRESS_KEY] = address.value
            return redirect("portal:code_verify")
    return render(request, "portal/code_request.html", {"form": form})


@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def code_verify(request: HttpRequest) -> HttpResponse:
    """Enter the code; the same page whether or not the address belongs to a customer."""
    address = request.session.get(CODE_ADDRESS_KEY)
    if not address:
        return redirect("portal:code_request")
    form = portal_forms.CodeVerifyForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.verify_sign_in_code(address=address, code=form.cleaned_data["code"])
        except DomainError as error:
            add_domain_error(form, error)
        else:
            request.session.pop(CODE_ADDRESS_KEY, None)
            next_url = request.session.get(NEXT_KEY)
            user = services.open_portal_session(request, customer=customer)
            if next_url:
                request.session[NEXT_KEY] = next_url
            account_services.record_login(user=user, method="portal_code")
            return _after_sign_in(request)
    return render(request, "portal/code_verify.html", {"form": form, "address": address})


@require_http_methods(["GET", "POST"])
@customer_required
def account(request: HttpRequest) -> HttpResponse:
    """The customer's name and language, and their password (a first one after signing in with
    a code, without asking for a current one)."""
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - customer_required
    has_password = user.has_usable_password()
    profile = account_forms.ProfileForm(
        request.POST if request.POST.get("form") == "profile" else None,
        initial={"display_name": user.display_name, "language": user.language},
    )
    password = account_forms.PasswordChangeForm(
        request.POST if request.POST.get("form") == "password" else None
    )
    if not has_password:
        del password.fields["current_password"]
    if request.method == "POST":
        if profile.is_bound and profile.is_valid():
            try:
                account_services.update_own_profile(
                    actor=user,
                    display_name=profile.cleaned_data["display_name"],
                    language=profile.cleaned_data["language"],
                )
            except DomainError as error:
                add_domain_error(profile, error)
            else:
                messages.success(request, _("Your details have been saved."))
                return redirect("portal:account")
        if password.is_bound and password.is_valid():
            try:
                changed = account_services.change_password(
                    actor=user,
                    user=user,
                    new_password=password.cleaned_data["new_password"],
                    current_password=password.cleaned_data.get("current_password"),
                )
            except DomainError as error:
                add_domain_error(password, error)
            else:
                update_session_auth_hash(request, changed)
                messages.success(request, _("Your password has been saved."))
                return redirect("portal:account")
    return render(
        request,
        "portal/account.html",
        {"profile": profile, "password": password, "has_password": has_password},
        status=422 if request.method == "POST" else 200,
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    account_services.record_logout(user=request.user)
    logout(request)
    return redirect("portal:home")


# --- A new request ------------------------------------------------------------------------------


def _definitions(ticket_type: TicketType | None) -> list[FieldDefinition]:
    if ticket_type is None:
        return []
    return customfields.definitions_for(TARGET, ticket_form_key(ticket_type.pk))


def _custom_form(
    data: QueryDict | None, ticket_type: TicketType | None, actor: Any
) -> CustomFieldsForm:
    definitions = _definitions(ticket_type)
    bound = wf.join_cascade_levels(data, definitions) if data is not None else None
    defaults = {d.key: d.default for d in definitions if d.default is not None}
    form = CustomFieldsForm(
        bound, definitions=definitions, values=defaults, actor=actor, audience="customer"
    )
    wf.loosen_cascades(form)
    return form


def _chosen_type(types: QuerySet[TicketType], raw: str | None) -> TicketType | None:
    if raw and raw.isdigit():
        return types.filter(pk=int(raw)).first()
    if types.count() == 1:
        return types.first()
    return None


def _request_context(
    form: portal_forms.RequestForm,
    custom: CustomFieldsForm,
    chosen: TicketType | None,
    contact: portal_forms.ContactForm | None,
) -> dict[str, Any]:
    return {
        "form": form,
        "custom": custom,
        "sections": wf.custom_field_sections(custom),
        "chosen_type": chosen,
        "contact": contact,
    }


@require_http_methods(["GET", "POST"])
def new_request(request: HttpRequest) -> HttpResponse:
    """Submit a request: choose what it is about, describe it, fill the type's own fields
    (conditional ones appear as they apply), attach photos. Visitors without an account give a
    name and an e-mail address or phone and get a secret link to follow the request."""
    customer = _customer(request)
    if customer is None and _is_staff(request):
        return redirect("tickets:ticket_create")
    actor = request.user if customer is not None else None
    data = request.POST if request.method == "POST" else None
    types = services.ticket_types_for_portal()
    source = data if data is not None else request.GET
    chosen = _chosen_type(types, source.get("ticket_type"))
    form = portal_forms.RequestForm(
        data, request.FILES if data is not None else None, ticket_types=types,
        initial={"ticket_type": chosen, "subject": request.GET.get("subject", "")},
    )  # fmt: skip
    # Another type brings other fields: re-render them (htmx) without losing what was typed.
    form.fields["ticket_type"].widget.attrs.update(
        {
            "hx-post": reverse("portal:new_request"),
            "hx-trigger": "change",
            "hx-vals": '{"preview": "1"}',
            "hx-params": "not attachments",
            "hx-target": "#type-fields",
            "hx-swap": "outerHTML",
            "hx-sync": "#type-fields:replace",
        }
    )
    contact = portal_forms.ContactForm(data) if customer is None else None
    custom = _custom_form(data, chosen, actor)
    if data is not None and is_htmx(request) and data.get("preview") == "1":
        wf.silence(form)
        wf.silence(custom)
        return render(
            request,
            "portal/_request_fields.html",
            _request_context(form, custom, chosen, contact),
        )
    if data is not None:
        valid = form.is_valid()
        valid = custom.is_valid() and valid
        valid = (contact is None or contact.is_valid()) and valid
        valid = wf.custom_values_valid(custom, chosen, actor, "customer") and valid
        if valid:
            response = _submit(request, form, custom, contact, customer)
            if response is not None:
                return response
    return render(
        request,
        "portal/new_request.html",
        _request_context(form, custom, chosen, contact),
        status=422 if data is not None else 200,
    )


def _submit(
    request: HttpRequest,
    form: portal_forms.RequestForm,
    custom: CustomFieldsForm,
    contact: portal_forms.ContactForm | None,
    customer: Customer | None,
) -> HttpResponse | None:
    values = form.cleaned_data
    arguments = {
        "ticket_type": values["ticket_type"],
        "subject": values["subject"],
        "description": values["description"],
        "custom_fields": custom.submitted_values(),
        "files": values["attachments"],
    }
    try:
        if contact is None:
            ticket = services.submit_request(actor=request.user, **arguments)
        else:
            submission = services.submit_anonymous_request(
                name=contact.cleaned_data["name"],
                email=contact.cleaned_data["email"],
                phone=contact.cleaned_data["phone"],
                **arguments,
            )
            return render(
                request,
                "portal/submitted.html",
                {
                    "ticket": submission.ticket,
                    "tracking_url": request.build_absolute_uri(submission.tracking_path),
                },
            )
    except FieldErrors as error:
        custom.add_field_errors(error)
        return None
    except DomainError as error:
        target = contact if contact is not None and error.field in contact.fields else form
        add_domain_error(target, error)
        return None
    messages.success(
        request,
        _("Thank you. Your request %(number)s has been received.") % {"number": ticket.number},
    )
    return redirect("portal:request_detail", number=ticket.number)


@require_GET
def suggest(request: HttpRequest) -> HttpResponse:
    """Public articles matching what the customer is typing (htmx, while they type)."""
    subject = request.GET.get("subject", "")[:200]
    description = request.GET.get("description", "")[:500]
    results = knowledge_services.suggest_articles(
        viewer=request.user,
        subject=subject,
        description=description,
        language=translation.get_language() or "",
        limit=3,
    )
    query = " ".join(part for part in (subject, description) if part.strip())[:200]
    return render(request, "portal/_suggestions.html", {"results": results, "query": query})


# --- My request -------------------------------------------------------------------------------


def _own_ticket(request: HttpRequest, number: str) -> Ticket:
    return get_object_or_404(ticket_selectors.tickets_visible_to(request.user), number=number)


def _conversation(viewer: Any, ticket: Ticket) -> list[dict[str, Any]]:
    comments: list[Comment] = list(
        ticket_selectors.comments_visible_to(viewer, ticket)
        .filter(is_public=True)
        .order_by("created_at", "pk")
    )
    files: dict[int | None, list[Attachment]] = {}
    for attachment in Attachment.objects.filter(ticket=ticket, is_public=True).order_by("pk"):
        files.setdefault(attachment.comment_id, []).append(attachment)
    rows = []
    for comment in comments:
        from_customer = comment.author_customer_id is not None or (
            comment.author is not None and comment.author.kind == User.Kind.CUSTOMER
        )
        if from_customer:
            who = _("You")
        elif comment.author is not None:
            who = comment.author.display_name or comment.author.first_name or _("Service team")
        else:
            who = _("Service team")
        rows.append(
            {
                "comment": comment,
                "who": who,
                "from_customer": from_customer,
                "files": files.get(comment.pk, []),
            }
        )
    return [{"opening_files": files.get(None, [])}, *rows]


def _detail_context(
    request: HttpRequest, ticket: Ticket, *, reply: portal_forms.ReplyForm | None = None,
    tracking: str = "",
) -> dict[str, Any]:  # fmt: skip
    viewer = request.user if not tracking else None
    rows = _conversation(viewer, ticket) if not tracking else _conversation_for_tracking(ticket)
    opening, messages_rows = rows[0]["opening_files"], rows[1:]
    return {
        "ticket": ticket,
        "status": status_words(ticket),
        "opening_files": opening,
        "messages_rows": messages_rows,
        "reply_form": reply or portal_forms.ReplyForm(),
        "can_reply": ticket.status_category != Category.CLOSED,
        "can_close": not tracking
        and ticket.status_category not in (Category.SOLVED, Category.CLOSED),
        "can_reopen": not tracking and ticket.status_category == Category.SOLVED,
        "tracking": tracking,
        "survey_url": _survey_url(ticket),
    }


def _conversation_for_tracking(ticket: Ticket) -> list[dict[str, Any]]:
    """The public conversation as the requester sees it, for a tracking link (no login)."""
    contact = ticket.requester.portal_user
    if contact is None:
        contact = services.ensure_portal_login(customer=ticket.requester)
    return _conversation(contact, ticket)


def _survey_url(ticket: Ticket) -> str:
    """The satisfaction survey's link once it has gone out, while it still takes answers."""
    survey = survey_selectors.survey_for_ticket(ticket)
    if survey is None or survey.state not in (Survey.State.SENT, Survey.State.ANSWERED):
        return ""
    if survey_services.is_expired(survey):
        return ""
    return str(survey_services.survey_url(survey))


@require_GET
@customer_required
def request_detail(request: HttpRequest, number: str) -> HttpResponse:
    ticket = _own_ticket(request, number)
    return render(request, "portal/request_detail.html", _detail_context(request, ticket))


@require_POST
@customer_required
def request_reply(request: HttpRequest, number: str) -> HttpResponse:
    ticket = _own_ticket(request, number)
    form = portal_forms.ReplyForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            conversation.add_comment(
                actor=request.user,
                ticket=ticket,
                body=form.cleaned_data["body"],
                is_public=True,
                channel=Ticket.Channel.PORTAL,
                files=form.cleaned_data["attachments"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("Your reply has been sent."))
            return redirect("portal:request_detail", number=ticket.number)
    ticket.refresh_from_db()
    return render(
        request,
        "portal/request_detail.html",
        _detail_context(request, ticket, reply=form),
        status=422,
    )


@require_POST
@customer_required
def request_close(request: HttpRequest, number: str) -> HttpResponse:
    ticket = _own_ticket(request, number)
    try:
        ticket_services.close_by_customer(actor=request.user, ticket=ticket)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("Your request is closed. Thank you."))
    return redirect("portal:request_detail", number=ticket.number)


@require_POST
@customer_required
def request_reopen(request: HttpRequest, number: str) -> HttpResponse:
    ticket = _own_ticket(request, number)
    try:
        ticket_services.reopen_by_customer(actor=request.user, ticket=ticket)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("Your request is open again; we will look at it."))
    return redirect("portal:request_detail", number=ticket.number)


@require_GET
@customer_required
def attachment(request: HttpRequest, pk: int) -> HttpResponse:
    """A public file of one of the customer's requests; anything else is a 404."""
    found = get_object_or_404(ticket_selectors.attachments_visible_to(request.user), pk=pk)
    return file_download(found.file, filename=found.filename, content_type=found.content_type)


# --- Tracking links -----------------------------------------------------------------------------


def _tracked(token: str) -> Ticket:
    ticket = services.ticket_for_tracking(token)
    if ticket is None:
        raise Http404
    return ticket


@never_cache
@require_http_methods(["GET", "POST"])
def track(request: HttpRequest, token: str) -> HttpResponse:
    """One request opened by its secret link: its public conversation and a reply box."""
    ticket = _tracked(token)
    form = portal_forms.ReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.reply_by_tracking(
                ticket=ticket,
                body=form.cleaned_data["body"],
                files=form.cleaned_data["attachments"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("Your reply has been sent."))
            return redirect("portal:track", token=token)
    ticket.refresh_from_db()
    context = _detail_context(
        request, ticket, reply=form if request.method == "POST" else None, tracking=token
    )
    return render(
        request,
        "portal/request_detail.html",
        context,
        status=422 if request.method == "POST" else 200,
    )


@require_GET
def track_attachment(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    ticket = _tracked(token)
    found = get_object_or_404(Attachment.objects.filter(ticket=ticket, is_public=True), pk=pk)
    return file_download(found.file, filename=found.filename, content_type=found.content_type)


# --- Knowledge base ---------------------------------------------------------------------------


@require_GET
def knowledge(request: HttpRequest) -> HttpResponse:
    """Search the public articles."""
    query = request.GET.get("q", "").strip()
    results = (
        knowledge_services.search_articles(
            viewer=request.user, query=query, language=translation.get_language() or ""
        )
        if query
        else []
    )
    return render(request, "portal/knowledge.html", {"query": query, "results": results})


def _public_article(request: HttpRequest, pk: int) -> Article:
    # The portal shows what customers may read, whoever is looking (staff included).
    return get_object_or_404(knowledge_selectors.public_articles(), pk=pk)


@require_GET
def article(request: HttpRequest, pk: int) -> HttpResponse:
    found = _public_article(request, pk)
    knowledge_services.record_article_view(article=found)
    language = translation.get_language() or settings.LANGUAGE_CODE
    texts = {text.language: text for text in found.texts.all()}
    text = texts.get(language) or texts.get("zh-hans") or next(iter(texts.values()), None)
    return render(
        request,
        "portal/article.html",
        {
            "article": found,
            "text": text,
            "files": list(found.attachments.all()),
            "query": request.GET.get("q", "")[:200],
            "from_request": request.GET.get("from") == "request",
            "answered": request.GET.get("answered", ""),
        },
    )


@require_POST
def article_feedback(request: HttpRequest, pk: int) -> HttpResponse:
    """Did this solve your problem? Yes: counted as helpful, and as a deflection when the
    customer came from a new request (no request is filed). No: back to the request form."""
    found = _public_article(request, pk)
    query = request.POST.get("q", "")[:500]
    from_request = request.POST.get("from") == "request"
    if request.POST.get("helpful") == "yes":
        if from_request:
            knowledge_services.record_deflection(actor=request.user, article=found, query=query)
            messages.success(request, _("Glad it helped. No request was needed."))
            return redirect("portal:home")
        knowledge_services.vote_article(actor=request.user, article=found, is_helpful=True)
        answered = "yes"
    else:
        knowledge_services.vote_article(actor=request.user, article=found, is_helpful=False)
        if from_request:
            return redirect(f"{reverse('portal:new_request')}?{urlencode({'subject': query})}")
        answered = "no"
    target = reverse("portal:article", args=[found.pk])
    return redirect(f"{target}?{urlencode({'answered': answered})}")
