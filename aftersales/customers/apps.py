from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "aftersales.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from aftersales.accounts import authz, catalog
        from aftersales.customers.models import Customer, Organisation

        catalog.register_object_type("customers", "customer", _("Customers"))
        catalog.register_object_type("customers", "organisation", _("Organisations"))
        catalog.register_object_type("customers", "customertier", _("Customer tiers"))
        catalog.register_permission(
            "customers.merge_customer", _("Merge two customers into one"), _("Customers")
        )
        authz.register_scope(
            Customer, authz.ScopeRule(owner="owner", team="team", business_line="business_line")
        )
        authz.register_scope(
            Organisation, authz.ScopeRule(owner="owner", business_line="business_line")
        )
        # Tiers are shared configuration: no rule, so scoped grants read them through
        # selectors.tiers_visible_to, which only asks whether the codename is held at all.
