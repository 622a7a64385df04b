from django.urls import URLPattern, URLResolver, path

from aftersales.messaging import callbacks, views

app_name = "messaging"
urlpatterns: list[URLPattern | URLResolver] = [
    path("wechat/<slug:key>/callback", callbacks.wechat_callback, name="wechat_callback"),
    path("wechat/<slug:key>/portal", callbacks.wechat_portal, name="wechat_portal"),
    path("wechat/<slug:key>/identify", callbacks.miniprogram_identify, name="miniprogram_identify"),
    path("wecom/<slug:key>/callback", callbacks.wecom_callback, name="wecom_callback"),
    path("wecom/<slug:key>/portal", callbacks.wecom_portal, name="wecom_portal"),
    path("dingtalk/<slug:key>/callback", callbacks.dingtalk_callback, name="dingtalk_callback"),
    path("dingtalk/<slug:key>/robot", callbacks.dingtalk_robot, name="dingtalk_robot"),
    path("settings/", views.account_list, name="accounts"),
    path("settings/new/", views.account_create, name="account_create"),
    path("settings/<int:pk>/", views.account_edit, name="account_edit"),
    path("settings/<int:pk>/check/", views.account_check, name="account_check"),
    path("settings/<int:pk>/test/", views.account_test, name="account_test"),
    path("settings/<int:pk>/qr/", views.account_qr, name="account_qr"),
    path("messages/", views.inbound_list, name="inbound"),
    path("messages/<int:pk>/retry/", views.inbound_retry, name="inbound_retry"),
    path("replies/", views.outbound_list, name="outbound"),
]
