"""Pages of the accounts app: sign-in, two-factor, passwords, profile and the settings pages for
users, teams, business lines, roles and API tokens.

Views parse input, read through ``selectors``, check ``authz`` and call one ``services``
function; they never write rows themselves.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, update_session_auth_hash
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied as HttpPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language as django_set_language

from aftersales.accounts import authz, forms, selectors, services
from aftersales.accounts.middleware import ENROLMENT_SESSION_KEY, SECOND_FACTOR_SESSION_KEY
from aftersales.accounts.models import ApiToken, Role, RoleGrant, User
from aftersales.accounts.requests import AuthenticatedRequest
from aftersales.audit import selectors as audit_selectors
from aftersales.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from aftersales.web.shortcuts import add_domain_error, is_htmx, require, signed_in

NEXT_SESSION_KEY = "aftersales_login_next"
TOTP_URI_SESSION_KEY = "aftersales_totp_enrolment_uri"
PAGE_SIZE = 50


def _safe_next(request: HttpRequest, candidate: str | None) -> str | None:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


def _finish_login(request: HttpRequest, user: User, method: str) -> HttpResponseRedirect:
    services.record_login(user=user, method=method)
    next_url = request.session.pop(NEXT_SESSION_KEY, None)
    return redirect(next_url or settings.LOGIN_REDIRECT_URL)


# --- Sign-in, second factor, sign-out ----------------------------------------------------------


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Username or e-mail and password; then the TOTP step or a forced enrolment if due."""
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    form = forms.LoginForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip()
        if services.login_is_locked(username):
            services.record_failed_login(username=username, reason="locked")
            form.add_error(
                None,
                _(
                    "Sign-in is locked for this account after too many failed attempts. "
                    "Try again in %(minutes)s minutes."
                )
                % {"minutes": max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)},
            )
        else:
            user = authenticate(request, username=username, password=form.cleaned_data["password"])
            if user is None:
                services.record_failed_login(username=username, reason="bad_credentials")
                form.add_error(None, _("The username or password is not correct."))
            else:
                auth_login(request, user)
                if next_url:
                    request.session[NEXT_SESSION_KEY] = next_url
                if user.has_two_factor:
                    request.session[SECOND_FACTOR_SESSION_KEY] = True
                    return redirect("accounts:two_factor")
                if services.requires_two_factor(user):
                    request.session[ENROLMENT_SESSION_KEY] = True
                    return redirect("accounts:two_factor_setup")
                return _finish_login(request, user, "password")
    return render(request, "accounts/login.html", {"form": form, "next": next_url or ""})


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """Second sign-in step: the six-digit code from the person's authenticator app."""
    if not request.user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    if not request.session.get(SECOND_FACTOR_SESSION_KEY):
        return redirect(settings.LOGIN_REDIRECT_URL)
    user = request.user
    form = forms.CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if services.login_is_locked(user.username):
            services.record_failed_login(username=user.username, reason="locked")
            auth_logout(request)
            messages.error(request, _("Too many failed attempts. Sign in again later."))
            return redirect(settings.LOGIN_URL)
        if services.verify_second_factor(user=user, code=form.cleaned_data["code"]):
            del request.session[SECOND_FACTOR_SESSION_KEY]
            request.session.cycle_key()
            return _finish_login(request, user, "totp")
        form.add_error("code", _("The code is not correct. Check the time on your phone."))
    return render(request, "accounts/two_factor.html", {"form": form})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    services.record_logout(user=request.user)
    auth_logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the interface language; a signed-in person's choice is kept on their account."""
    if not request.user.is_authenticated:
        return django_set_language(request)
    language = request.POST.get("language", "")
    next_url = _safe_next(request, request.POST.get("next")) or "/"
    try:
        services.set_language(actor=request.user, language=language)
    except DomainError as error:
        messages.error(request, error.detail())
        return redirect(next_url)
    if language:
        translation.activate(language)
    return _remember_language(redirect(next_url), language)


def _remember_language(response: HttpResponse, language: str) -> HttpResponse:
    """Set (or, for "follow the browser", clear) the language cookie on ``response``."""
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,  # type: ignore[arg-type]
        )
    else:
        response.delete_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
        )
    return response


# --- Two-factor enrolment -----------------------------------------------------------------------


def _qr_data_uri(uri: str) -> str:
    return segno.make(uri, error="m").svg_data_uri(scale=4, border=2, dark="#17202e")


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Turn on TOTP: start (new secret, QR code), then confirm with a first code."""
    if not request.user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    if request.session.get(SECOND_FACTOR_SESSION_KEY):
        return redirect("accounts:two_factor")
    user = request.user
    forced = bool(request.session.get(ENROLMENT_SESSION_KEY))
    form = forms.CodeForm()
    uri = request.session.get(TOTP_URI_SESSION_KEY)
    if user.has_two_factor:
        request.session.pop(TOTP_URI_SESSION_KEY, None)
        return render(
            request, "accounts/two_factor_setup.html", {"enrolled": True, "forced": forced}
        )
    action = request.POST.get("action")
    if request.method == "POST" and action == "begin":
        try:
            uri = services.begin_totp_enrolment(actor=user)
        except DomainError as error:
            messages.error(request, error.detail())
            return redirect("accounts:profile")
        request.session[TOTP_URI_SESSION_KEY] = uri
    elif request.method == "POST" and action == "confirm" and uri:
        form = forms.CodeForm(request.POST)
        if form.is_valid():
            try:
                services.confirm_totp_enrolment(actor=user, code=form.cleaned_data["code"])
            except DomainError as error:
                add_domain_error(form, error)
            else:
                request.session.pop(TOTP_URI_SESSION_KEY, None)
                if forced:
                    del request.session[ENROLMENT_SESSION_KEY]
                    request.session.cycle_key()
                    messages.success(request, _("Two-factor login is on."))
                    return _finish_login(request, user, "totp")
                messages.success(request, _("Two-factor login is on."))
                return redirect("accounts:profile")
    context: dict[str, Any] = {"enrolled": False, "forced": forced, "form": form}
    if uri:
        context["qr_code"] = _qr_data_uri(uri)
        context["secret"] = user.totp_secret
    return render(request, "accounts/two_factor_setup.html", context)


@require_POST
@signed_in
def two_factor_disable(request: AuthenticatedRequest) -> HttpResponse:
    try:
        services.disable_totp(actor=request.user, user=request.user)
    except DomainError as error:
        messages.error(request, error.detail())
    else:
        messages.success(request, _("Two-factor login is off."))
    return redirect("accounts:profile")


# --- Passwords ----------------------------------------------------------------------------------


class PasswordResetView(auth_views.PasswordResetView):
    """Ask for a reset link by e-mail; the answer is the same whether the address is known."""

    form_class = forms.PasswordResetForm
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset_body.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        services.record_password_reset_requested(email=form.cleaned_data["email"])
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The link from the e-mail: set a new password; every existing session of the user ends."""

    form_class = forms.SetPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        try:
            return super().form_valid(form)
        except DomainError as error:
            add_domain_error(form, error)
            return self.form_invalid(form)


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


@sensitive_post_parameters("current_password", "new_password", "confirm_password")
@signed_in
def password_change(request: AuthenticatedRequest) -> HttpResponse:
    """Change one's own password; this session stays signed in, all others end."""
    form = forms.PasswordChangeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.change_password(
                actor=request.user,
                user=request.user,
                new_password=form.cleaned_data["new_password"],
                current_password=form.cleaned_data["current_password"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            update_session_auth_hash(request, user)
            messages.success(request, _("Your password has been changed."))
            return redirect("accounts:profile")
    return render(request, "accounts/password_change.html", {"form": form})


@require_POST
@signed_in
def end_sessions(request: AuthenticatedRequest) -> HttpResponse:
    """Sign out everywhere: every session of this person ends, this one included."""
    services.end_all_sessions(actor=request.user, user=request.user)
    services.record_logout(user=request.user)
    auth_logout(request)
    messages.success(request, _("You have been signed out on every device."))
    return redirect(settings.LOGIN_URL)


# --- Profile ----------------------------------------------------------------------------------


@signed_in
def profile(request: AuthenticatedRequest) -> HttpResponse:
    """The signed-in person's own page: name, language, two-factor, password, sessions."""
    user = request.user
    form = forms.ProfileForm(
        request.POST if request.method == "POST" else None,
        initial={"display_name": user.display_name, "language": user.language},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_own_profile(
                actor=user,
                display_name=form.cleaned_data["display_name"],
                language=form.cleaned_data["language"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("Your profile has been saved."))
            return _remember_language(redirect("accounts:profile"), form.cleaned_data["language"])
    return render(
        request,
        "accounts/profile.html",
        {
            "form": form,
            "sign_ins": audit_selectors.sign_ins_of(user),
            "requires_two_factor": services.requires_two_factor(user),
            "session_expires": request.session.get_expiry_date(),
        },
    )


# --- Users -------------------------------------------------------------------------------------


def _visible_user(request: HttpRequest, pk: int) -> User:
    return get_object_or_404(selectors.users_visible_to(request.user), pk=pk)


@signed_in
def user_list(request: HttpRequest) -> HttpResponse:
    require(request, "accounts.view_user")
    users = selectors.users_visible_to(request.user)
    filters = forms.UserFilterForm(
        request.GET or None, teams=selectors.teams_visible_to(request.user)
    )
    if filters.is_valid():
        data = filters.cleaned_data
        if data["q"]:
            users = users.filter(
                Q(username__icontains=data["q"])
                | Q(email__icontains=data["q"])
                | Q(display_name__icontains=data["q"])
            )
        if data["team"] is not None:
            users = users.filter(team_memberships__team=data["team"])
        if data["kind"]:
            users = users.filter(kind=data["kind"])
        if data["active"]:
            users = users.filter(is_active=data["active"] == "1")
    page = Paginator(users.order_by("username", "pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/users/list.html",
        {
            "filters": filters,
            "page": page,
            "query": query.urlencode(),
            "may_add": authz.has_permission(request.user, "accounts.add_user"),
        },
    )


def _grants_context(
    request: HttpRequest, target: User, grant_form: forms.GrantRoleForm | None = None
) -> dict[str, Any]:
    viewer = request.user
    may_read = authz.can_read_field(viewer, "accounts.user", "roles")
    may_assign = may_read and authz.has_permission(viewer, "accounts.assign_role", target)
    roles = selectors.roles_visible_to(viewer)
    if may_assign and grant_form is None:
        grant_form = forms.GrantRoleForm(roles=roles, initial={"scope": RoleGrant.Scope.OWN})
    grants = target.role_grants.select_related("role") if may_read else RoleGrant.objects.none()
    return {
        "target": target,
        "may_read_grants": may_read,
        "may_assign": may_assign,
        "grants": list(grants),
        "grant_form": grant_form,
        "may_grant_to_kind": target.kind != User.Kind.CUSTOMER,
    }


def _user_detail_context(request: HttpRequest, target: User) -> dict[str, Any]:
    viewer = request.user
    return {
        "teams": list(selectors.teams_visible_to(viewer).filter(memberships__user=target)),
        "lines": list(selectors.business_lines_visible_to(viewer).filter(members=target)),
        "may_change": authz.has_permission(viewer, "accounts.change_user", target),
        "may_toggle_active": authz.has_permission(viewer, "accounts.deactivate_user", target)
        and target.pk != viewer.pk,
        **_grants_context(request, target),
    }


@signed_in
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "accounts.view_user")
    target = _visible_user(request, pk)
    return render(request, "accounts/users/detail.html", _user_detail_context(request, target))


@sensitive_post_parameters("password")
@signed_in
def user_create(request: HttpRequest) -> HttpResponse:
    require(request, "accounts.add_user")
    lines = selectors.business_lines_visible_to(request.user)
    form = forms.UserCreateForm(request.POST if request.method == "POST" else None, lines=lines)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.create_user(
                actor=request.user,
                username=data["username"],
                password=data["password"] or None,
                email=data["email"],
                display_name=data["display_name"],
                phone=data["phone"],
                kind=data["kind"],
                language=data["language"],
                business_lines=data["business_lines"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("User %(name)s has been created.") % {"name": user})
            return redirect("accounts:user_detail", pk=user.pk)
    return render(request, "accounts/users/form.html", {"form": form, "target": None})


@signed_in
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    target = _visible_user(request, pk)
    if not authz.has_permission(request.user, "accounts.change_user", target):
        raise HttpPermissionDenied("accounts.change_user")
    lines = selectors.business_lines_visible_to(request.user)
    initial = {field: getattr(target, field) for field in services.USER_EDITABLE}
    initial["version"] = target.version
    initial["business_lines"] = list(lines.filter(members=target))
    form = forms.UserEditForm(
        request.POST if request.method == "POST" else None, initial=initial, lines=lines
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changes: dict[str, Any] = {field: data[field] for field in services.USER_EDITABLE}
        # Lines the editor cannot see stay as they are: hiding them must not remove them.
        hidden = target.business_lines.exclude(pk__in=lines.values("pk"))
        changes["business_lines"] = [*data["business_lines"], *hidden]
        try:
            services.update_user(
                actor=request.user, user=target, changes=changes, expected_version=data["version"]
            )
        except Conflict:
            form.add_error(
                None,
                _(
                    "This user was changed by someone else in the meantime. "
                    "Reload the page and make your changes again."
                ),
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The user has been saved."))
            return redirect("accounts:user_detail", pk=target.pk)
    return render(request, "accounts/users/form.html", {"form": form, "target": target})


@require_POST
@signed_in
def user_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    target = _visible_user(request, pk)
    if not authz.has_permission(request.user, "accounts.deactivate_user", target):
        raise HttpPermissionDenied("accounts.deactivate_user")
    is_active = request.POST.get("is_active") == "1"
    try:
        services.set_user_active(actor=request.user, user=target, is_active=is_active)
    except (NotFound, PermissionDenied):
        raise
    except DomainError as error:
        messages.error(request, error.detail())
    else:
        messages.success(
            request,
            _("The user has been activated.")
            if is_active
            else _("The user has been deactivated and signed out everywhere."),
        )
    return redirect("accounts:user_detail", pk=target.pk)


def _render_grants(
    request: HttpRequest,
    target: User,
    grant_form: forms.GrantRoleForm | None = None,
    error: str | None = None,
) -> HttpResponse:
    context = _grants_context(request, target, grant_form)
    context["grant_error"] = error
    if is_htmx(request):
        return render(request, "accounts/users/_grants.html", context)
    context.update(_user_detail_context(request, target))
    context.update(_grants_context(request, target, grant_form))
    context["grant_error"] = error
    return render(request, "accounts/users/detail.html", context)


@require_POST
@signed_in
def user_grant_role(request: HttpRequest, pk: int) -> HttpResponse:
    """Grant a role at a scope; refusals (such as granting beyond one's reach) show on the page."""
    target = _visible_user(request, pk)
    if not (
        authz.can_read_field(request.user, "accounts.user", "roles")
        and authz.has_permission(request.user, "accounts.assign_role", target)
    ):
        raise HttpPermissionDenied("accounts.assign_role")
    form = forms.GrantRoleForm(request.POST, roles=selectors.roles_visible_to(request.user))
    if form.is_valid():
        try:
            services.grant_role(
                actor=request.user,
                user=target,
                role=form.cleaned_data["role"],
                scope=form.cleaned_data["scope"],
            )
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("The role has been granted."))
            if is_htmx(request):
                return _render_grants(request, target)
            return redirect("accounts:user_detail", pk=target.pk)
    return _render_grants(request, target, form)


@require_POST
@signed_in
def user_revoke_role(request: HttpRequest, pk: int, role_pk: int) -> HttpResponse:
    target = _visible_user(request, pk)
    if not (
        authz.can_read_field(request.user, "accounts.user", "roles")
        and authz.has_permission(request.user, "accounts.assign_role", target)
    ):
        raise HttpPermissionDenied("accounts.assign_role")
    role = get_object_or_404(selectors.roles_visible_to(request.user), pk=role_pk)
    try:
        services.revoke_role(actor=request.user, user=target, role=role)
    except NotFound:
        raise
    except DomainError as error:
        return _render_grants(request, target, error=error.detail())
    messages.success(request, _("The role has been revoked."))
    if is_htmx(request):
        return _render_grants(request, target)
    return redirect("accounts:user_detail", pk=target.pk)


# --- Teams -------------------------------------------------------------------------------------


def _staff_visible_to(request: HttpRequest) -> Any:
    return selectors.users_visible_to(request.user).filter(kind=User.Kind.STAFF, is_active=True)


@signed_in
def team_list(request: HttpRequest) -> HttpResponse:
    require(request, "accounts.view_team")
    teams = selectors.teams_visible_to(request.user).annotate(member_count=Count("memberships"))
    return render(
        request,
        "accounts/teams/list.html",
        {
            "teams": list(teams.order_by("business_line__name", "name", "pk")),
            "may_add": authz.has_permission(request.user, "accounts.add_team"),
        },
    )


@signed_in
def team_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "accounts.view_team")
    team = get_object_or_404(selectors.teams_visible_to(request.user), pk=pk)
    members = selectors.users_visible_to(request.user).filter(team_memberships__team=team)
    return render(
        request,
        "accounts/teams/detail.html",
        {
            "team": team,
            "members": list(members.order_by("username")),
            "hidden_members": team.memberships.count() - members.count(),
            "may_change": authz.has_permission(request.user, "accounts.change_team", team),
        },
    )


@signed_in
def team_create(request: HttpRequest) -> HttpResponse:
    require(request, "accounts.add_team")
    form = forms.TeamForm(
        request.POST if request.method == "POST" else None,
        lines=selectors.business_lines_visible_to(request.user),
        users=_staff_visible_to(request),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            team = services.create_team(
                actor=request.user,
                name=data["name"],
                business_line=data["business_line"],
                lead=data["lead"],
                description=data["description"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("Team %(name)s has been created.") % {"name": team.name})
            return redirect("accounts:team_detail", pk=team.pk)
    return render(request, "accounts/teams/form.html", {"form": form, "team": None})


@signed_in
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(selectors.teams_visible_to(request.user), pk=pk)
    if not authz.has_permission(request.user, "accounts.change_team", team):
        raise HttpPermissionDenied("accounts.change_team")
    form = forms.TeamForm(
        request.POST if request.method == "POST" else None,
        editing=True,
        lines=selectors.business_lines_visible_to(request.user),
        users=_staff_visible_to(request),
        initial={
            "name": team.name,
            "lead": team.lead,
            "description": team.description,
            "is_active": team.is_active,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_team(actor=request.user, team=team, changes=dict(form.cleaned_data))
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The team has been saved."))
            return redirect("accounts:team_detail", pk=team.pk)
    return render(request, "accounts/teams/form.html", {"form": form, "team": team})


@signed_in
def team_members(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(selectors.teams_visible_to(request.user), pk=pk)
    if not authz.has_permission(request.user, "accounts.change_team", team):
        raise HttpPermissionDenied("accounts.change_team")
    candidates = _staff_visible_to(request)
    current = team.members.all()
    form = forms.TeamMembersForm(
        request.POST if request.method == "POST" else None,
        users=candidates,
        initial={"members": list(candidates.filter(pk__in=current.values("pk")))},
    )
    if request.method == "POST" and form.is_valid():
        # Members the editor cannot see stay: hiding them must not remove them.
        hidden = current.exclude(pk__in=candidates.values("pk"))
        try:
            services.set_team_members(
                actor=request.user, team=team, members=[*form.cleaned_data["members"], *hidden]
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The members have been saved."))
            return redirect("accounts:team_detail", pk=team.pk)
    return render(request, "accounts/teams/members.html", {"form": form, "team": team})


# --- Business lines ---------------------------------------------------------------------------


@signed_in
def businessline_list(request: HttpRequest) -> HttpResponse:
    require(request, "accounts.view_businessline")
    lines = selectors.business_lines_visible_to(request.user).annotate(
        team_count=Count("teams", distinct=True)
    )
    return render(
        request,
        "accounts/lines/list.html",
        {
            "lines": [
                (line, authz.has_permission(request.user, "accounts.change_businessline", line))
                for line in lines.order_by("name", "pk")
            ],
            "may_add": authz.has_permission(request.user, "accounts.add_businessline"),
        },
    )


@signed_in
def businessline_create(request: HttpRequest) -> HttpResponse:
    require(request, "accounts.add_businessline")
    form = forms.BusinessLineForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            line = services.create_business_line(
                actor=request.user,
                code=data["code"],
                name=data["name"],
                description=data["description"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(
                request, _("Business line %(name)s has been created.") % {"name": line.name}
            )
            return redirect("accounts:businessline_list")
    return render(request, "accounts/lines/form.html", {"form": form, "line": None})


@signed_in
def businessline_edit(request: HttpRequest, pk: int) -> HttpResponse:
    line = get_object_or_404(selectors.business_lines_visible_to(request.user), pk=pk)
    if not authz.has_permission(request.user, "accounts.change_businessline", line):
        raise HttpPermissionDenied("accounts.change_businessline")
    form = forms.BusinessLineForm(
        request.POST if request.method == "POST" else None,
        editing=True,
        initial={"name": line.name, "description": line.description, "is_active": line.is_active},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_business_line(
                actor=request.user, line=line, changes=dict(form.cleaned_data)
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The business line has been saved."))
            return redirect("accounts:businessline_list")
    return render(request, "accounts/lines/form.html", {"form": form, "line": line})


# --- Roles ---------------------------------------------------------------------------------------


def _visible_role(request: HttpRequest, pk: int) -> Role:
    require(request, "accounts.view_role")
    return get_object_or_404(selectors.roles_visible_to(request.user), pk=pk)


@signed_in
def role_list(request: HttpRequest) -> HttpResponse:
    require(request, "accounts.view_role")
    roles = selectors.roles_visible_to(request.user).annotate(grant_count=Count("grants"))
    return render(request, "accounts/roles/list.html", {"roles": list(roles)})


@signed_in
def role_detail(request: HttpRequest, pk: int) -> HttpResponse:
    role = _visible_role(request, pk)
    groups = [
        {**group, "permissions": [p for p in group["permissions"] if p["checked"]]}
        for group in forms.permission_groups(role.permissions)
    ]
    return render(
        request,
        "accounts/roles/detail.html",
        {
            "role": role,
            "groups": [g for g in groups if g["permissions"]],
            "may_copy": authz.has_permission(request.user, "accounts.add_role"),
            "may_change": not role.is_system
            and authz.has_permission(request.user, "accounts.change_role", role),
            "may_delete": not role.is_system
            and authz.has_permission(request.user, "accounts.delete_role", role),
        },
    )


@signed_in
def role_copy(request: HttpRequest, pk: int) -> HttpResponse:
    role = _visible_role(request, pk)
    require(request, "accounts.add_role")
    form = forms.RoleCopyForm(
        request.POST if request.method == "POST" else None,
        initial={"key": f"{role.key}-copy", "name": _("Copy of %(name)s") % {"name": role.label}},
    )
    if request.method == "POST" and form.is_valid():
        try:
            copy = services.copy_role(
                actor=request.user,
                role=role,
                key=form.cleaned_data["key"],
                name=form.cleaned_data["name"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("Role %(name)s has been created.") % {"name": copy.name})
            return redirect("accounts:role_detail", pk=copy.pk)
    return render(request, "accounts/roles/copy.html", {"form": form, "role": role})


@signed_in
def role_edit(request: HttpRequest, pk: int) -> HttpResponse:
    role = _visible_role(request, pk)
    if role.is_system or not authz.has_permission(request.user, "accounts.change_role", role):
        raise HttpPermissionDenied("accounts.change_role")
    form = forms.RoleEditForm(
        request.POST if request.method == "POST" else None,
        initial={
            "version": role.version,
            "name": role.name,
            "description": role.description,
            "requires_two_factor": role.requires_two_factor,
            "permissions": role.permissions,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        try:
            services.update_role(
                actor=request.user, role=role, changes=data, expected_version=version
            )
        except Conflict:
            form.add_error(
                None,
                _(
                    "This role was changed by someone else in the meantime. "
                    "Reload the page and make your changes again."
                ),
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The role has been saved."))
            return redirect("accounts:role_detail", pk=role.pk)
    selected = form["permissions"].value() or []
    return render(
        request,
        "accounts/roles/form.html",
        {
            "form": form,
            "role": role,
            "groups": forms.permission_groups(list(selected)),
        },
    )


@require_POST
@signed_in
def role_delete(request: HttpRequest, pk: int) -> HttpResponse:
    role = _visible_role(request, pk)
    if role.is_system or not authz.has_permission(request.user, "accounts.delete_role", role):
        raise HttpPermissionDenied("accounts.delete_role")
    try:
        services.delete_role(actor=request.user, role=role)
    except (NotFound, PermissionDenied):
        raise
    except DomainError as error:
        messages.error(request, error.detail())
        return redirect("accounts:role_detail", pk=role.pk)
    messages.success(request, _("The role has been deleted."))
    return redirect("accounts:role_list")


# --- API tokens ---------------------------------------------------------------------------------


def _require_token_holder(request: AuthenticatedRequest) -> None:
    if request.user.kind == User.Kind.CUSTOMER:
        raise HttpPermissionDenied("customer")


def _token_owners(request: HttpRequest) -> Any:
    """Whom the viewer may issue tokens for: themselves, and integrations they manage."""
    owners = Q(pk=request.user.pk)
    if authz.has_permission(request.user, "accounts.add_apitoken"):
        integrations = authz.restrict(
            selectors.users_visible_to(request.user).filter(
                kind=User.Kind.INTEGRATION, is_active=True
            ),
            request.user,
            "accounts.change_user",
        )
        owners |= Q(pk__in=integrations.values("pk"))
    return User.objects.filter(owners).order_by("username")


@signed_in
def token_list(request: AuthenticatedRequest) -> HttpResponse:
    _require_token_holder(request)
    tokens = selectors.tokens_visible_to(request.user).order_by("-created_at", "-pk")
    return render(
        request,
        "accounts/tokens/list.html",
        {
            "tokens": list(tokens),
            "now": timezone.now(),
        },
    )


@signed_in
def token_create(request: AuthenticatedRequest) -> HttpResponse:
    _require_token_holder(request)
    form = forms.TokenCreateForm(
        request.POST if request.method == "POST" else None,
        users=_token_owners(request),
        initial={"user": request.user.pk, "scopes": "*"},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        expires_at = None
        if data["expires_on"] is not None:
            expires_at = timezone.make_aware(datetime.combine(data["expires_on"], time.min))
        try:
            issued = services.create_token(
                actor=request.user,
                user=data["user"],
                name=data["name"],
                scopes=form.scope_list(),
                expires_at=expires_at,
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            response = render(
                request,
                "accounts/tokens/created.html",
                {"token": issued.token, "secret": issued.secret},
            )
            # The secret is shown once: no cache may keep a copy of this page.
            response["Cache-Control"] = "no-store"
            return response
    return render(request, "accounts/tokens/form.html", {"form": form})


@require_POST
@signed_in
def token_revoke(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    _require_token_holder(request)
    token: ApiToken = get_object_or_404(selectors.tokens_visible_to(request.user), pk=pk)
    services.revoke_token(actor=request.user, token=token)
    messages.success(request, _("The token %(name)s has been revoked.") % {"name": token.name})
    return redirect(reverse("accounts:token_list"))
