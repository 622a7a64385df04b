from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    name = "aftersales.sla"
    label = "sla"
    verbose_name = _("Service levels")

    def ready(self) -> None:
        from aftersales.accounts import authz, catalog
        from aftersales.sla.models import Calendar

        catalog.register_object_type(
            "sla", "calendar", _("Business calendars"), actions=("view", "add", "change", "delete")
        )
        # A calendar belongs to a business line or to a team (and so to the team's line).
        authz.register_scope(
            Calendar,
            authz.ScopeRule(team="team", business_line=("business_line", "team__business_line")),
        )
        # Holiday sets are shared by every calendar: no scope rule, so only "all" grants may
        # change them; selectors.holiday_sets_visible_to lets any holder of view_holidayset read.
        catalog.register_object_type(
            "sla", "holidayset", _("Holiday sets"), actions=("view", "add", "change")
        )
