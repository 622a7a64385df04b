"""Errors raised by domain code and turned into problem+json or form errors at the edge."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A business rule refused the request.

    ``code`` is stable and machine-readable; ``field`` names the input at fault (if any);
    ``message`` is translated for the person who will read it.
    """

    status = 422
    default_message: str | Promise = _("The request could not be processed.")

    def __init__(
        self,
        code: str,
        *,
        field: str | None = None,
        message: str | Promise | None = None,
        params: dict[str, object] | None = None,
    ) -> None:
        self.code = code
        self.field = field
        self.message = message if message is not None else self.default_message
        self.params = params or {}
        super().__init__(f"{code}: {self.message}")

    def detail(self) -> str:
        text = str(self.message)
        return text % self.params if self.params else text

    def errors(self) -> list[dict[str, str]]:
        """The field-level reasons (problem+json ``errors``); one entry for the named field."""
        if not self.field:
            return []
        return [{"field": self.field, "code": self.code, "detail": self.detail()}]


class PermissionDenied(DomainError):
    """The actor may see the object but may not do this to it."""

    status = 403
    default_message = _("You do not have permission to do this.")


class NotFound(DomainError):
    """The object does not exist or lies outside the actor's data scope (never say which)."""

    status = 404
    default_message = _("Not found.")


class Conflict(DomainError):
    """The object changed since the client read it, or the request collides with another."""

    status = 409
    default_message = _("The object was changed by someone else.")


class PreconditionFailed(DomainError):
    """The client's copy (its ETag / version) is stale: someone changed the object since."""

    status = 412
    default_message = _("The object was changed since you read it. Reload and try again.")


class TooManyRequests(DomainError):
    """The caller asked too often; the API answers 429 (with ``Retry-After`` when known)."""

    status = 429
    default_message = _("Too many requests. Wait before trying again.")
