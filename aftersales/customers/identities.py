"""Normalising identity values, so one phone number or address is stored one way only."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from aftersales.core.errors import DomainError
from aftersales.customers.models import CustomerIdentity

Kind = CustomerIdentity.Kind

DEFAULT_COUNTRY_CODE = "86"
_PHONE_SEPARATORS = re.compile(r"[\s\-().\u00a0]")
_MAINLAND_MOBILE = re.compile(DEFAULT_COUNTRY_CODE + r"1[3-9]")
_OPAQUE_ID = re.compile(r"^[A-Za-z0-9_\-.@:]{1,128}$")


def _invalid(kind: str, field: str) -> DomainError:
    if kind == Kind.PHONE:
        message = _("Enter a phone number: digits, optionally with + and a country code.")
    elif kind == Kind.EMAIL:
        message = _("Enter a valid e-mail address.")
    else:
        message = _("Enter an id of letters, digits and - _ . @ : only.")
    return DomainError("invalid_identity", field=field, message=message)


def normalise_phone(raw: str, *, field: str = "value") -> str:
    """``138 1234 5678`` → ``+8613812345678``; ``+1 (415) 555-0100`` → ``+14155550100``.

    Without a country code the number is taken as mainland Chinese: a leading ``0`` is the
    domestic trunk prefix of a landline (``010-12345678`` → ``+861012345678``). ``00`` is the
    international prefix. The result is E.164: ``+`` and 8 to 15 digits.
    """
    text = _PHONE_SEPARATORS.sub("", raw.strip())
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    elif text.startswith("0"):
        digits = DEFAULT_COUNTRY_CODE + text[1:]
    elif len(text) == 13 and text.startswith(DEFAULT_COUNTRY_CODE + "1"):
        digits = text
    else:
        digits = DEFAULT_COUNTRY_CODE + text
    if not digits.isdigit() or not digits.isascii() or not 8 <= len(digits) <= 15:
        raise _invalid(Kind.PHONE, field)
    # Mainland mobiles start 13-19; Beijing's area code 10 also starts with 1 but is no mobile.
    mobile = _MAINLAND_MOBILE.match(digits) is not None
    if mobile and len(digits) != 13:
        # Mainland mobile numbers have exactly 11 digits.
        raise _invalid(Kind.PHONE, field)
    return "+" + digits


def normalise_email(raw: str, *, field: str = "value") -> str:
    """Trimmed and lowercased: mail systems treat addresses case-insensitively in practice."""
    value = raw.strip().lower()
    try:
        validate_email(value)
    except ValidationError:
        raise _invalid(Kind.EMAIL, field) from None
    return value


def normalise(kind: str, raw: str, *, field: str = "value") -> str:
    """The stored form of ``raw`` for identities of ``kind``; DomainError when it is invalid."""
    if kind not in Kind.values:
        raise DomainError(
            "invalid_choice", field="kind", message=_("Choose one of the identity kinds.")
        )
    if not isinstance(raw, str) or not raw.strip():
        raise DomainError("required", field=field, message=_("This field is required."))
    if kind == Kind.PHONE:
        return normalise_phone(raw, field=field)
    if kind == Kind.EMAIL:
        return normalise_email(raw, field=field)
    # Platform ids (openid, unionid, external ids) are case-sensitive opaque strings.
    value = raw.strip()
    if not _OPAQUE_ID.match(value):
        raise _invalid(kind, field)
    return value
