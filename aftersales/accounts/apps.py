from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "aftersales.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from aftersales.accounts import authz, catalog
        from aftersales.accounts.models import ApiToken, BusinessLine, Role, Team, User

        catalog.register_object_type("accounts", "user", _("Users"))
        catalog.register_object_type("accounts", "team", _("Teams"))
        catalog.register_object_type("accounts", "businessline", _("Business lines"))
        catalog.register_object_type("accounts", "role", _("Roles"))
        catalog.register_object_type(
            "accounts", "apitoken", _("API tokens"), actions=("view", "add", "change", "delete")
        )
        catalog.register_permission("accounts.assign_role", _("Grant and revoke roles"), _("Users"))
        catalog.register_permission(
            "accounts.deactivate_user", _("Activate and deactivate users"), _("Users")
        )
        catalog.register_permission(
            "accounts.manage_security", _("Reset two-factor and sessions of others"), _("Users")
        )
        catalog.register_permission("core.view_metrics", _("Read operational metrics"), _("System"))

        authz.register_scope(
            User,
            authz.ScopeRule(
                owner="pk",
                team="team_memberships__team",
                # A person belongs to a line directly or through a team of that line.
                business_line=("business_lines", "team_memberships__team__business_line"),
                many=True,
            ),
        )
        authz.register_scope(
            Team, authz.ScopeRule(owner="lead", team="pk", business_line="business_line")
        )
        authz.register_scope(
            BusinessLine,
            authz.ScopeRule(owner="members", team="teams", business_line="pk", many=True),
        )
        authz.register_scope(
            ApiToken,
            authz.ScopeRule(
                owner="user",
                team="user__team_memberships__team",
                business_line=(
                    "user__business_lines",
                    "user__team_memberships__team__business_line",
                ),
                many=True,
            ),
        )
        authz.register_scope(Role, authz.ScopeRule())
        authz.register_field_rule(
            "accounts.user", "roles", read="accounts.view_role", write="accounts.assign_role"
        )
        authz.register_field_rule("accounts.user", "is_active", write="accounts.deactivate_user")
        authz.register_field_rule("audit.auditentry", "ip_address", read="audit.view_ip_address")

        post_migrate.connect(_sync_roles, sender=self)


def _sync_roles(**kwargs: object) -> None:
    # Seeding configuration after migrate, like Django's own permissions; not a business reaction.
    from aftersales.accounts.services import sync_predefined_roles

    sync_predefined_roles()
