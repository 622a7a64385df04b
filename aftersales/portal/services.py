"""Portal sign-in and the customer's own actions on their requests.

A customer reaches the portal through a login of kind ``customer`` linked to their customer
record (``Customer.portal_user``). Channels that already know who the customer is (a WeChat
menu link, a secret tracking link) open a portal session for them without a password through
:func:`open_portal_session`; the login is created on first use.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest

from aftersales.accounts.models import User
from aftersales.audit import services as audit
from aftersales.core.errors import DomainError
from aftersales.customers.models import Customer, CustomerIdentity

SESSION_BACKEND = "aftersales.accounts.backends.AccountBackend"


def _new_username(customer: Customer) -> str:
    return f"c{customer.pk}-{secrets.token_hex(4)}"


@transaction.atomic
def ensure_portal_login(*, customer: Customer) -> User:
    """The customer's portal login, created (without a usable password) when they have none.

    The e-mail and phone of the new login come from the customer's identities. Merged or
    inactive customers get no login.
    """
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if not locked.is_active:
        raise DomainError("customer_inactive", field="customer")
    if locked.portal_user_id is not None:
        user = User.objects.get(pk=locked.portal_user_id)
        customer.portal_user = user
        return user
    identities = dict(
        locked.identities.filter(
            is_active=True, kind__in=[CustomerIdentity.Kind.EMAIL, CustomerIdentity.Kind.PHONE]
        )
        .order_by("-pk")
        .values_list("kind", "value")
    )
    user = User(
        username=_new_username(locked),
        kind=User.Kind.CUSTOMER,
        display_name=locked.name[:150],
        email=identities.get(CustomerIdentity.Kind.EMAIL, ""),
        phone=identities.get(CustomerIdentity.Kind.PHONE, "")[:32],
    )
    user.set_unusable_password()
    user.save()
    Customer.objects.filter(pk=locked.pk).update(portal_user=user)
    customer.portal_user = user
    audit.record(
        actor=None,
        action="portal.login_created",
        obj=locked,
        after={"portal_user": user.username},
    )
    return user


def open_portal_session(request: HttpRequest, *, customer: Customer) -> User:
    """Sign ``customer`` in to the portal in this browser, creating their login if needed.

    Only for callers that have already proved who the customer is (a verified one-time code,
    a platform's signed identity, a secret tracking link).
    """
    user = ensure_portal_login(customer=customer)
    if not user.is_active:
        raise DomainError("login_disabled", field="customer")
    login(request, user, backend=SESSION_BACKEND)
    return user


def portal_customer(user: Any) -> Customer | None:
    """The customer record behind a signed-in portal login, or None for anyone else."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if getattr(user, "kind", None) != User.Kind.CUSTOMER:
        return None
    return (
        Customer.objects.filter(portal_user=user, is_active=True)
        .select_related("business_line", "organisation", "tier")
        .first()
    )
