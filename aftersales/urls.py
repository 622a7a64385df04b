from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from aftersales.api.main import api
from aftersales.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", core_views.metrics, name="metrics"),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("accounts/", include("aftersales.accounts.urls")),
    path("settings/audit/", include("aftersales.audit.urls")),
    path("settings/fields/", include("aftersales.customfields.urls")),
    path("customers/", include("aftersales.customers.urls")),
    path("tickets/", include("aftersales.tickets.urls")),
    path("knowledge/", include("aftersales.knowledge.urls")),
    path("settings/calendars/", include("aftersales.sla.urls")),
    path("sla/", include("aftersales.sla.policy_urls")),
    path("settings/conditions/", include("aftersales.conditions.urls")),
    path("settings/automation/", include("aftersales.automation.urls")),
    path("routing/", include("aftersales.routing.urls")),
    path("notifications/", include("aftersales.notifications.urls")),
    path("portal/", include("aftersales.portal.urls")),
    path("survey/", include("aftersales.surveys.urls")),
    path("forms/", include("aftersales.webforms.urls")),
    path("settings/mailboxes/", include("aftersales.channels.urls")),
    path("messaging/", include("aftersales.messaging.urls")),
    path("calls/", include("aftersales.calls.urls")),
    path("", include("aftersales.web.urls")),
]
