from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def shell(request: HttpRequest) -> dict[str, Any]:
    from aftersales.web.navigation import navigation_for

    user = getattr(request, "user", None)
    return {"navigation": navigation_for(user, request.path) if user is not None else []}
