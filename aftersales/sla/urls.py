"""URLs of the calendar settings pages (mounted at ``settings/calendars/``)."""

from django.urls import URLPattern, path

from aftersales.sla import views

app_name = "sla"

urlpatterns: list[URLPattern] = [
    path("", views.calendar_list, name="calendar_list"),
    path("new/", views.calendar_create, name="calendar_create"),
    path("<int:pk>/", views.calendar_detail, name="calendar_detail"),
    path("<int:pk>/edit/", views.calendar_edit, name="calendar_edit"),
    path("<int:pk>/delete/", views.calendar_delete, name="calendar_delete"),
    path("<int:pk>/days/", views.day_set, name="day_set"),
    path("<int:pk>/days/<str:day>/delete/", views.day_delete, name="day_delete"),
    path("holiday-sets/", views.holiday_set_list, name="holiday_set_list"),
    path("holiday-sets/<int:pk>/", views.holiday_set_detail, name="holiday_set_detail"),
]
