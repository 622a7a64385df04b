"""The home page of the server-rendered UI: a dashboard for staff; customers go to the portal."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect, render

from aftersales.accounts.models import User
from aftersales.accounts.requests import AuthenticatedRequest
from aftersales.web.shortcuts import signed_in


@signed_in
def home(request: AuthenticatedRequest) -> HttpResponse:
    """Who the signed-in person is here: roles with scopes, teams, lines, where to go next."""
    user = request.user
    if user.kind == User.Kind.CUSTOMER:
        return redirect("portal:home")
    grants = user.role_grants.select_related("role").order_by("role__name")
    teams = user.teams.filter(is_active=True).select_related("business_line", "lead")
    lines = user.business_lines.filter(is_active=True)
    return render(
        request,
        "web/home.html",
        {"grants": list(grants), "teams": list(teams), "lines": list(lines)},
    )
