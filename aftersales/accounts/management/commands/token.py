"""``aftersales token create USERNAME``: print a new API token for that user."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from aftersales.accounts import services
from aftersales.accounts.models import ApiToken, User
from aftersales.core.errors import DomainError


class Command(BaseCommand):
    help = "Manage API tokens: 'create USERNAME' prints a new token; 'list'; 'revoke ID'."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token and print its secret once.")
        create.add_argument("username")
        create.add_argument("--name", default="CLI token")
        create.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            help="Permission pattern the token may use (repeatable); default *.",
        )
        create.add_argument(
            "--days", type=int, default=None, help="Expire after this many days (default: never)."
        )
        listing = sub.add_parser("list", help="List tokens of a user.")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="Revoke a token by id.")
        revoke.add_argument("token_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "revoke":
            token = ApiToken.objects.filter(pk=options["token_id"]).first()
            if token is None:
                raise CommandError(f"There is no token with id {options['token_id']}.")
            services.revoke_token(actor=token.user, token=token)
            self.stdout.write(f"Token {token.pk} revoked.")
            return
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"There is no user named {options['username']!r}.")
        if action == "list":
            for token in user.api_tokens.all():
                state = "revoked" if token.revoked_at else "active"
                self.stdout.write(f"{token.pk}\t{token.prefix}…\t{token.name}\t{state}")
            return
        if not user.is_active:
            raise CommandError(f"User {user.username!r} is deactivated.")
        expires = timezone.now() + timedelta(days=options["days"]) if options["days"] else None
        try:
            # The operator at the console acts as the user: a token for themselves.
            issued = services.create_token(
                actor=user,
                user=user,
                name=options["name"],
                scopes=options["scopes"] or ["*"],
                expires_at=expires,
            )
        except DomainError as error:
            raise CommandError(error.detail()) from None
        self.stdout.write(issued.secret)
