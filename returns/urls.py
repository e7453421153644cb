from django.urls import path

from returns import api, policy_views, views

urlpatterns = [
    path("", views.cs_home, name="cs_home"),
    path("returns/", views.ReturnSearchView.as_view(), name="return_search"),
    path("returns/review/", views.ReturnQueueView.as_view(), name="return_queue"),
    path("returns/<int:pk>/", views.ReturnDetailView.as_view(), name="return_detail"),
    path("returns/photos/<int:pk>/", views.ReturnPhotoView.as_view(), name="return_photo"),
    path(
        "returns/<int:pk>/<slug:action>/",
        views.ReturnActionView.as_view(),
        name="return_action",
    ),
    path("orders/<int:pk>/return/", views.ReturnCreateView.as_view(), name="return_create"),
    path("policy/", views.PolicyListView.as_view(), name="policy_list"),
    path("policy/<int:pk>/", views.PolicyDetailView.as_view(), name="policy_detail"),
    path(
        "policy/<int:pk>/rules/new/",
        policy_views.PolicyRuleFormView.as_view(),
        name="policy_rule_add",
    ),
    path(
        "policy/<int:pk>/rules/<int:rule_id>/",
        policy_views.PolicyRuleFormView.as_view(),
        name="policy_rule_edit",
    ),
    path(
        "policy/<int:pk>/rules/<int:rule_id>/delete/",
        policy_views.PolicyRuleDeleteView.as_view(),
        name="policy_rule_delete",
    ),
    path(
        "policy/<int:pk>/rules/<int:rule_id>/move/<slug:direction>/",
        policy_views.PolicyRuleMoveView.as_view(),
        name="policy_rule_move",
    ),
    path(
        "policy/<int:pk>/<slug:action>/",
        views.PolicyActionView.as_view(),
        name="policy_action",
    ),
]

api_urlpatterns = [
    path("cases/", api.ReturnCaseListCreateView.as_view(), name="returns_api_cases"),
    path(
        "cases/<str:rma_number>/",
        api.ReturnCaseDetailView.as_view(),
        name="returns_api_case",
    ),
]
