from django.urls import path

from returns import views

urlpatterns = [
    path("", views.cs_home, name="cs_home"),
]
