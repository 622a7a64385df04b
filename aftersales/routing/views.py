"""Routing pages: team settings, skills, the region tree, agent profiles, the queues, and the
two buttons every agent has (availability in the header, "Get next" in the inbox)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from aftersales.accounts import authz
from aftersales.accounts.models import Team, User
from aftersales.accounts.selectors import teams_visible_to
from aftersales.core.errors import DomainError
from aftersales.routing import forms, selectors, services
from aftersales.routing.models import AgentProfile, Region, Skill, TeamRouting
from aftersales.routing.permissions import (
    ADD_REGION,
    ADD_SKILL,
    CHANGE_PROFILE,
    CHANGE_REGION,
    CHANGE_SKILL,
    CHANGE_TEAM_ROUTING,
    GET_NEXT,
    SET_OWN_AVAILABILITY,
    VIEW_PROFILE,
    VIEW_QUEUE,
    VIEW_REGION,
    VIEW_SKILL,
    VIEW_TEAM_ROUTING,
)
from aftersales.sla.selectors import calendars_visible_to
from aftersales.web.shortcuts import add_domain_error, require, signed_in


def _may(request: HttpRequest, codename: str) -> bool:
    return authz.has_permission(request.user, codename)


def _back(request: HttpRequest, fallback: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


# --- Team settings ----------------------------------------------------------------------------


@signed_in
def settings_home(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_TEAM_ROUTING)
    teams = authz.restrict(
        Team.objects.filter(is_active=True).select_related("business_line"),
        request.user,
        VIEW_TEAM_ROUTING,
    )
    routings = {r.team_id: r for r in TeamRouting.objects.filter(team__in=teams)}
    rows = [{"team": team, "routing": routings.get(team.pk)} for team in teams]
    return render(
        request,
        "routing/settings.html",
        {
            "rows": rows,
            "may_view_skills": _may(request, VIEW_SKILL),
            "may_view_regions": _may(request, VIEW_REGION),
            "may_view_agents": _may(request, VIEW_PROFILE),
        },
    )


@signed_in
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, VIEW_TEAM_ROUTING)
    teams = authz.restrict(Team.objects.all(), request.user, VIEW_TEAM_ROUTING)
    team = get_object_or_404(teams, pk=pk)
    routing = selectors.routing_of(team) or TeamRouting(team=team)
    initial = {
        "strategy": routing.strategy,
        "use_skills": routing.use_skills,
        "use_region": routing.use_region,
        "region_field": routing.region_field,
        "default_capacity": routing.default_capacity,
        "queue_mode": routing.queue_mode,
        "respect_working_hours": routing.respect_working_hours,
        "next_tier": routing.next_tier_id,
        "version": routing.version,
    }
    form = forms.TeamRoutingForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        teams=teams_visible_to(request.user).filter(is_active=True).exclude(pk=team.pk),
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        try:
            services.update_team_routing(
                actor=request.user, team=team, changes=data, expected_version=version
            )
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("Routing of %(team)s saved.") % {"team": team.name})
            return redirect("routing:settings")
    return render(
        request,
        "routing/team_form.html",
        {"team": team, "form": form, "may_change": _may(request, CHANGE_TEAM_ROUTING)},
    )


# --- Skills and regions -----------------------------------------------------------------------


@signed_in
def skill_list(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_SKILL)
    may_add = _may(request, ADD_SKILL)
    form = forms.SkillForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_skill(actor=request.user, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("Skill added."))
            return redirect("routing:skill_list")
    skills = selectors.skills_visible_to(request.user).annotate(agent_count=Count("agents"))
    return render(
        request, "routing/skill_list.html", {"skills": skills, "form": form, "may_add": may_add}
    )


@signed_in
def skill_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, VIEW_SKILL)
    skill = get_object_or_404(selectors.skills_visible_to(request.user), pk=pk)
    form = forms.SkillForm(
        request.POST if request.method == "POST" else None,
        initial={k: getattr(skill, k) for k in ("key", "name_zh", "name_en", "is_active")},
    )
    form.fields["key"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in ("name_zh", "name_en", "is_active")}
        try:
            services.update_skill(actor=request.user, skill=skill, changes=data)
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("Skill saved."))
            return redirect("routing:skill_list")
    return render(
        request,
        "routing/skill_form.html",
        {"skill": skill, "form": form, "may_change": _may(request, CHANGE_SKILL)},
    )


def _tree(regions: list[Region]) -> list[dict[str, Any]]:
    """Regions as nested rows (depth-first, in position order) for the tree page."""
    children: dict[int | None, list[Region]] = {}
    for region in regions:
        children.setdefault(region.parent_id, []).append(region)
    rows: list[dict[str, Any]] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for region in children.get(parent_id, []):
            # Indented with text, not a style attribute: the CSP allows no inline styles.
            prefix = "\u3000" * depth + ("└ " if depth else "")
            rows.append({"region": region, "depth": depth, "prefix": prefix})
            walk(region.pk, depth + 1)

    walk(None, 0)
    return rows


@signed_in
def region_list(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_REGION)
    regions = selectors.regions_visible_to(request.user)
    form = forms.RegionForm(request.POST if request.method == "POST" else None, regions=regions)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_region(actor=request.user, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("Region added."))
            return redirect("routing:region_list")
    return render(
        request,
        "routing/region_list.html",
        {"rows": _tree(list(regions)), "form": form, "may_add": _may(request, ADD_REGION)},
    )


@signed_in
def region_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, VIEW_REGION)
    regions = selectors.regions_visible_to(request.user)
    region = get_object_or_404(regions, pk=pk)
    form = forms.RegionForm(
        request.POST if request.method == "POST" else None,
        initial={
            "code": region.code,
            "name_zh": region.name_zh,
            "name_en": region.name_en,
            "parent": region.parent_id,
        },
        regions=regions.exclude(pk=region.pk),
    )
    form.fields["code"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in ("name_zh", "name_en", "parent")}
        try:
            services.update_region(actor=request.user, region=region, changes=data)
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("Region saved."))
            return redirect("routing:region_list")
    return render(
        request,
        "routing/region_form.html",
        {"region": region, "form": form, "may_change": _may(request, CHANGE_REGION)},
    )


# --- Agents -----------------------------------------------------------------------------------


def _agents(request: HttpRequest) -> Any:
    staff = User.objects.filter(kind=User.Kind.STAFF, is_active=True)
    return authz.restrict(staff, request.user, VIEW_PROFILE)


@signed_in
def agent_list(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_PROFILE)
    agents = list(_agents(request).order_by("username")[:500])
    profiles = {
        p.user_id: p
        for p in AgentProfile.objects.filter(user__in=agents).prefetch_related("skills", "regions")
    }
    loads = selectors.load_of([a.pk for a in agents])
    rows = [{"agent": a, "profile": profiles.get(a.pk), "load": loads.get(a.pk, 0)} for a in agents]
    return render(request, "routing/agent_list.html", {"rows": rows})


@signed_in
def agent_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, VIEW_PROFILE)
    agent = get_object_or_404(_agents(request), pk=pk)
    profile = AgentProfile.objects.filter(user=agent).first() or AgentProfile(user=agent)
    saved = profile.pk is not None
    initial = {
        "availability": profile.availability,
        "capacity": profile.capacity,
        "calendar": profile.calendar_id,
        "skills": list(profile.skills.all()) if saved else [],
        "regions": list(profile.regions.all()) if saved else [],
        "version": profile.version,
    }
    form = forms.AgentProfileForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        calendars=calendars_visible_to(request.user).filter(is_active=True),
        skills=Skill.objects.filter(is_active=True),
        regions=Region.objects.filter(is_active=True),
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        availability = data.pop("availability")
        version = data.pop("version")
        data["skills"] = list(data["skills"])
        data["regions"] = list(data["regions"])
        try:
            services.update_agent_profile(
                actor=request.user, user=agent, changes=data, expected_version=version
            )
            services.set_availability(actor=request.user, user=agent, status=availability)
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("Profile of %(agent)s saved.") % {"agent": str(agent)})
            return redirect("routing:agent_list")
    return render(
        request,
        "routing/agent_form.html",
        {"agent": agent, "form": form, "may_change": _may(request, CHANGE_PROFILE)},
    )


# --- Queues, get next, availability -----------------------------------------------------------


@signed_in
def queue_list(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_QUEUE)
    teams = selectors.queue_teams_visible_to(request.user).filter(routing__queue_mode=True)
    rows = [{"team": t, "waiting": selectors.queued_tickets([t.pk]).count()} for t in teams]
    return render(
        request, "routing/queue_list.html", {"rows": rows, "may_get_next": _may(request, GET_NEXT)}
    )


@signed_in
def queue_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, VIEW_QUEUE)
    team = get_object_or_404(selectors.queue_teams_visible_to(request.user), pk=pk)
    now = timezone.now()
    tickets = list(selectors.queued_tickets([team.pk])[:200])
    rows = [
        {"position": index, "ticket": ticket, "waiting": now - ticket.created_at}
        for index, ticket in enumerate(tickets, start=1)
    ]
    return render(
        request,
        "routing/queue_detail.html",
        {"team": team, "rows": rows, "may_get_next": _may(request, GET_NEXT)},
    )


@signed_in
@require_POST
def take_next(request: HttpRequest) -> HttpResponse:
    require(request, GET_NEXT)
    ticket = services.get_next(agent=request.user)  # type: ignore[arg-type]
    if ticket is None:
        messages.info(request, _("Nothing is waiting for you in your teams' queues."))
        return redirect(_back(request, reverse("tickets:inbox")))
    messages.success(request, _("%(number)s is yours now.") % {"number": ticket.number})
    return redirect("tickets:ticket_detail", reference=ticket.number)


@signed_in
@require_POST
def set_my_availability(request: HttpRequest) -> HttpResponse:
    require(request, SET_OWN_AVAILABILITY)
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - signed_in lets only users through
    try:
        services.set_availability(actor=user, user=user, status=request.POST.get("status", ""))
    except DomainError as error:
        messages.error(request, error.detail())
    return redirect(_back(request, reverse("tickets:inbox")))
