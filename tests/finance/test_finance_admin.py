"""Approval limits and return shipping rates in the Django admin: validated, with history."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from finance.models import ApprovalLimit, ReturnShippingRate
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db
ADD = "/admin/finance/approvallimit/add/"


def test_an_administrator_sets_a_users_limit_and_its_history_is_kept(
    client, administrator_user, finance_user
):
    client.force_login(administrator_user)
    assert client.get("/admin/finance/approvallimit/").status_code == 200

    # when an administrator gives one clerk a higher limit in EUR
    response = client.post(
        ADD, {"user": finance_user.pk, "currency": "EUR", "max_amount": "750.00"}
    )

    # then it is saved, and its history names who
    assert response.status_code == 302
    limit = ApprovalLimit.objects.get(user=finance_user)
    assert limit.max_amount == Decimal("750.00")
    assert limit.history.get().history_user == administrator_user
    assert client.get(f"/admin/finance/approvallimit/{limit.pk}/history/").status_code == 200


BAD_LIMITS = {
    "neither": ({"currency": "EUR", "max_amount": "10"}, "not both and not neither"),
    "both": (
        {"group": "finance", "user": "finance", "currency": "EUR", "max_amount": "10"},
        "not both and not neither",
    ),
    "currency": ({"group": "finance", "currency": "eur", "max_amount": "10"}, "three-letter"),
    "negative": ({"group": "finance", "currency": "", "max_amount": "-1"}, "greater than or"),
    "twice": ({"group": "finance", "currency": "", "max_amount": "10"}, "already has a limit"),
}


@pytest.mark.parametrize("case", list(BAD_LIMITS))
def test_a_bad_limit_is_a_form_error_and_nothing_is_saved(
    client, administrator_user, finance_user, case
):
    # given the seeded limit of the finance group (500 in any currency)
    client.force_login(administrator_user)
    data, message = BAD_LIMITS[case]
    ids = {"group": Group.objects.get(name="finance").pk, "user": finance_user.pk}
    data = {key: ids.get(key, value) for key, value in data.items()}
    before = list(ApprovalLimit.objects.values_list("pk", "max_amount"))

    response = client.post(ADD, data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert list(ApprovalLimit.objects.values_list("pk", "max_amount")) == before


def test_return_shipping_rates_are_edited_in_the_admin(client, administrator_user):
    client.force_login(administrator_user)
    channel = ChannelFactory()
    response = client.post(
        "/admin/finance/returnshippingrate/add/", {"channel": channel.pk, "amount": "-2"}
    )
    assert response.status_code == 200
    assert not ReturnShippingRate.objects.exists()
    response = client.post(
        "/admin/finance/returnshippingrate/add/", {"channel": channel.pk, "amount": "4.20"}
    )
    assert response.status_code == 302
    assert ReturnShippingRate.objects.get().amount == Decimal("4.20")
    assert client.get("/admin/finance/realizedrecovery/").status_code == 200
