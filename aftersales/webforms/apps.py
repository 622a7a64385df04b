from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebFormsConfig(AppConfig):
    name = "aftersales.webforms"
    label = "webforms"
    verbose_name = _("Web forms")
