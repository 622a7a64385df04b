from django.urls import path

from aftersales.conditions import views

app_name = "conditions"
urlpatterns = [
    path("try/", views.try_condition, name="try"),
]
