from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConditionsConfig(AppConfig):
    name = "aftersales.conditions"
    label = "conditions"
    verbose_name = _("Conditions")

    def ready(self) -> None:
        from aftersales.accounts import catalog

        # Administrators hold it through their "*" pattern; other roles get it granted.
        catalog.register_permission(
            "conditions.try_condition", _("Try conditions on tickets"), _("Conditions")
        )
