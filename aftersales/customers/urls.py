"""URLs of the customers pages."""

from django.urls import URLPattern

app_name = "customers"
urlpatterns: list[URLPattern] = []
