"""RFC 9457 problem details: the one shape of every API error, with field-level reasons."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: gettext_noop("Bad request"),
    401: gettext_noop("Authentication required"),
    403: gettext_noop("Forbidden"),
    404: gettext_noop("Not found"),
    405: gettext_noop("Method not allowed"),
    409: gettext_noop("Conflict"),
    412: gettext_noop("Precondition failed"),
    422: gettext_noop("Invalid request"),
    428: gettext_noop("Precondition required"),
    429: gettext_noop("Too many requests"),
    500: gettext_noop("Server error"),
}


def problem(
    request: HttpRequest | None,
    *,
    status: int,
    code: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": f"urn:aftersales:problem:{code}",
        "title": _(TITLES.get(status, "Error")),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request is not None:
        body["instance"] = request.path
    if errors:
        body["errors"] = errors
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


# pydantic error type → translated message (with the error's ctx as named placeholders).
_PYDANTIC_MESSAGES: dict[str, str] = {
    "missing": gettext_noop("This field is required."),
    "string_type": gettext_noop("Enter text."),
    "string_too_short": gettext_noop("Enter at least %(min_length)s characters."),
    "string_too_long": gettext_noop("Enter at most %(max_length)s characters."),
    "string_pattern_mismatch": gettext_noop("Enter a value in the expected format."),
    "int_type": gettext_noop("Enter a whole number."),
    "int_parsing": gettext_noop("Enter a whole number."),
    "float_type": gettext_noop("Enter a number."),
    "float_parsing": gettext_noop("Enter a number."),
    "bool_type": gettext_noop("Enter true or false."),
    "bool_parsing": gettext_noop("Enter true or false."),
    "greater_than": gettext_noop("Enter a value greater than %(gt)s."),
    "greater_than_equal": gettext_noop("Enter a value of at least %(ge)s."),
    "less_than": gettext_noop("Enter a value less than %(lt)s."),
    "less_than_equal": gettext_noop("Enter a value of at most %(le)s."),
    "datetime_type": gettext_noop("Enter a date and time."),
    "datetime_parsing": gettext_noop("Enter a date and time (ISO 8601)."),
    "datetime_from_date_parsing": gettext_noop("Enter a date and time (ISO 8601)."),
    "date_parsing": gettext_noop("Enter a date (YYYY-MM-DD)."),
    "list_type": gettext_noop("Enter a list."),
    "dict_type": gettext_noop("Enter an object."),
    "model_type": gettext_noop("Enter an object."),
    "enum": gettext_noop("Choose one of: %(expected)s."),
    "literal_error": gettext_noop("Choose one of: %(expected)s."),
    "value_error": gettext_noop("Enter a valid value."),
    "extra_forbidden": gettext_noop("This field is not allowed."),
    "json_invalid": gettext_noop("The body is not valid JSON."),
    "too_long": gettext_noop("Enter at most %(max_length)s items."),
    "too_short": gettext_noop("Enter at least %(min_length)s items."),
    "uuid_parsing": gettext_noop("Enter a valid UUID."),
}

_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}


def field_of(location: list[Any] | tuple[Any, ...]) -> str:
    """``("body", "payload", "email")`` → ``"email"``: drop the source and our body name."""
    parts = [str(p) for p in location]
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    # API handlers name their body parameter "payload" by convention.
    if len(parts) > 1 and parts[0] == "payload":
        parts = parts[1:]
    return ".".join(parts) or "body"


def translate_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for error in errors:
        kind = str(error.get("type", "value_error"))
        template = _PYDANTIC_MESSAGES.get(kind)
        context = {k: v for k, v in (error.get("ctx") or {}).items() if isinstance(v, str | int)}
        if template is None:
            message = _("Enter a valid value.")
        else:
            try:
                message = _(template) % context if "%(" in template else _(template)
            except (KeyError, ValueError):
                message = _("Enter a valid value.")
        result.append({"field": field_of(error.get("loc", ())), "code": kind, "detail": message})
    return result
