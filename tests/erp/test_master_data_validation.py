"""Bad master data gets a specific error and writes nothing, through the admin and the model."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from erp.models import BundleComponent, ChannelListing, Product
from erp.validators import normalize_gtin
from tests.factories import (
    CategoryFactory,
    ChannelFactory,
    ChannelListingFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db


def product_form(category, **overrides):
    data = {
        "sku": "TEE-001",
        "name": "Organic tee",
        "gtin": "5901234123457",
        "category": category.pk,
        "tracking": "none",
        "unit_cost": "8.50",
        "list_price": "29.00",
        "warranty_months": "0",
        "is_active": "on",
        # Inline formsets of the product admin page, empty.
        "components-TOTAL_FORMS": "0",
        "components-INITIAL_FORMS": "0",
        "listings-TOTAL_FORMS": "0",
        "listings-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_gtin_is_normalized_to_fourteen_digits():
    assert normalize_gtin("5901234123457") == "05901234123457"
    assert normalize_gtin(" 036000291452 ") == "00036000291452"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5901234123458", "Invalid GTIN check digit for '5901234123458': Expected 7, got 8."),
        ("12345", "Expected 8, 12, 13, or 14 digits, got 5"),
        ("59012341234AB", "Failed to parse '59012341234AB' as GTIN"),
    ],
)
def test_bad_gtin_is_rejected_with_reason(value, message):
    with pytest.raises(ValidationError) as raised:
        normalize_gtin(value)
    assert message in raised.value.messages[0]


def test_admin_refuses_bad_gtin_check_digit_and_saves_nothing(client, administrator_user):
    # Given an administrator on the product form
    client.force_login(administrator_user)
    category = CategoryFactory()

    # When they submit a GTIN whose check digit is wrong
    response = client.post(
        reverse("admin:erp_product_add"), product_form(category, gtin="5901234123458")
    )

    # Then the form says why, and no product exists
    assert response.status_code == 200
    assert "Invalid GTIN check digit" in response.content.decode()
    assert not Product.objects.exists()


def test_admin_saves_a_valid_product_with_normalized_gtin(client, administrator_user):
    client.force_login(administrator_user)
    category = CategoryFactory()

    response = client.post(reverse("admin:erp_product_add"), product_form(category))

    assert response.status_code == 302
    product = Product.objects.get(sku="TEE-001")
    assert product.gtin == "05901234123457"
    assert product.unit_cost == Decimal("8.50")
    assert product.history.count() == 1
    assert product.history.first().history_user == administrator_user


@pytest.mark.parametrize("field", ["unit_cost", "list_price"])
def test_admin_refuses_negative_price_and_saves_nothing(client, administrator_user, field):
    client.force_login(administrator_user)
    category = CategoryFactory()

    response = client.post(
        reverse("admin:erp_product_add"), product_form(category, **{field: "-1"})
    )

    assert response.status_code == 200
    assert "Must be zero or more." in response.content.decode()
    assert not Product.objects.exists()


def test_database_refuses_negative_price_even_past_the_forms():
    product = ProductFactory()
    with (
        pytest.raises(IntegrityError, match="product_list_price_not_negative"),
        transaction.atomic(),
    ):
        Product.objects.filter(pk=product.pk).update(list_price=Decimal("-0.01"))
    product.refresh_from_db()
    assert product.list_price == Decimal("30.00")


def test_admin_refuses_duplicate_channel_sku_and_saves_nothing(client, administrator_user):
    # Given a channel that already lists a product as "CH-1"
    client.force_login(administrator_user)
    existing = ChannelListingFactory(channel_sku="CH-1")
    other = ProductFactory()

    # When another product is listed under the same channel SKU
    response = client.post(
        reverse("admin:erp_channellisting_add"),
        {
            "channel": existing.channel.pk,
            "product": other.pk,
            "channel_sku": "CH-1",
            "listing_id": "",
            "is_active": "on",
        },
    )

    # Then the error names the conflict and only the first listing exists
    assert response.status_code == 200
    assert "This channel already lists a product under that SKU." in (response.content.decode())
    assert list(ChannelListing.objects.values_list("product_id", flat=True)) == [
        existing.product_id
    ]


def test_same_channel_sku_on_another_channel_is_fine():
    ChannelListingFactory(channel_sku="CH-1")
    ChannelListingFactory(channel_sku="CH-1", channel=ChannelFactory())
    assert ChannelListing.objects.filter(channel_sku="CH-1").count() == 2


def test_duplicate_listing_id_is_a_validation_error():
    existing = ChannelListingFactory(listing_id="B0TEST0001")
    duplicate = ChannelListing(
        channel=existing.channel,
        product=ProductFactory(),
        channel_sku="OTHER",
        listing_id="B0TEST0001",
    )
    with pytest.raises(ValidationError) as raised:
        duplicate.full_clean()
    assert raised.value.messages == ["This channel already has a listing with that id."]
    assert ChannelListing.objects.count() == 1


def test_bundle_cannot_contain_itself():
    product = ProductFactory()
    with pytest.raises(ValidationError) as raised:
        BundleComponent(bundle=product, component=product, quantity=1).full_clean()
    assert "A bundle cannot contain itself." in raised.value.messages
    assert not BundleComponent.objects.exists()


def test_channel_secret_is_never_rendered_in_the_admin(client, administrator_user):
    client.force_login(administrator_user)
    channel = ChannelFactory(webhook_secret="s3cr3t-value")

    page = client.get(reverse("admin:erp_channel_change", args=[channel.pk])).content.decode()

    assert "s3cr3t-value" not in page
