from django.urls import path

from finance import views

urlpatterns = [
    path("", views.finance_home, name="finance_home"),
]
