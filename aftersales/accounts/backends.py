"""Authentication backend: username or e-mail, staff and customer contacts alike."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.db.models import Q
from django.http import HttpRequest

from aftersales.accounts.models import User


class AccountBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not username or password is None:
            return None
        candidates = list(
            User.objects.filter(Q(username__iexact=username) | Q(email__iexact=username))[:2]
        )
        if len(candidates) != 1:
            # Run the hasher anyway so timing does not reveal whether the name exists.
            User().set_password(password)
            return None
        user = candidates[0]
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id: int) -> User | None:
        try:
            user = User.objects.get(pk=user_id)
        except User.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        # Django's permission tables are not used; aftersales.accounts.authz decides.
        from aftersales.accounts import authz

        return authz.has_permission(user_obj, perm, obj)
