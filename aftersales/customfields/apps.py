from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomFieldsConfig(AppConfig):
    name = "aftersales.customfields"
    label = "customfields"
    verbose_name = _("Custom fields")

    def ready(self) -> None:
        from aftersales.accounts import catalog
        from aftersales.customfields import registry
        from aftersales.customfields.types import BUILTIN_TYPES

        # Definitions are configuration: no ScopeRule, so only an "all" grant reaches them.
        catalog.register_object_type(
            "customfields",
            "fielddefinition",
            _("Custom fields"),
            # Shaping forms is one capability (like customer tiers): view and configure.
            actions=("view", "configure"),
        )
        for field_type in BUILTIN_TYPES:
            registry.register(field_type)
        # The objects that carry a custom_fields column. The owning apps may register more.
        registry.register_target("customers.customer", _("Customers"))
        registry.register_target("customers.organisation", _("Organisations"))
        registry.register_target("tickets.ticket", _("Tickets"))
