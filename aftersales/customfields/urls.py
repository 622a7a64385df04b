"""URLs of the customfields pages."""

from django.urls import URLPattern

app_name = "customfields"
urlpatterns: list[URLPattern] = []
