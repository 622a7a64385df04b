from django.urls import URLPattern, URLResolver, path

from aftersales.portal import views

app_name = "portal"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-in/code/", views.code_request, name="code_request"),
    path("sign-in/code/verify/", views.code_verify, name="code_verify"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("account/", views.account, name="account"),
    path("new/", views.new_request, name="new_request"),
    path("suggest/", views.suggest, name="suggest"),
    path("requests/<str:number>/", views.request_detail, name="request_detail"),
    path("requests/<str:number>/reply/", views.request_reply, name="request_reply"),
    path("requests/<str:number>/close/", views.request_close, name="request_close"),
    path("requests/<str:number>/reopen/", views.request_reopen, name="request_reopen"),
    path("files/<int:pk>/", views.attachment, name="attachment"),
    path("track/<str:token>/", views.track, name="track"),
    path("track/<str:token>/files/<int:pk>/", views.track_attachment, name="track_attachment"),
    path("help/", views.knowledge, name="knowledge"),
    path("help/<int:pk>/", views.article, name="article"),
    path("help/<int:pk>/feedback/", views.article_feedback, name="article_feedback"),
]
