from django.urls import path

from reporting import views

urlpatterns = [
    path("", views.operations_home, name="operations_home"),
]
