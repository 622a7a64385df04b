from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "aftersales.audit"
    label = "audit"
    verbose_name = _("Audit log")

    def ready(self) -> None:
        from aftersales.accounts.catalog import register_object_type, register_permission

        register_object_type("audit", "auditentry", _("Audit log"), actions=("view", "export"))
        register_permission("audit.view_ip_address", _("See IP addresses"), _("Audit log"))
