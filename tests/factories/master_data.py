from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from erp.models import (
    BundleComponent,
    Category,
    Channel,
    ChannelListing,
    Customer,
    Location,
    OrderLine,
    Product,
    SalesOrder,
    ShippedItem,
    Warehouse,
)


def gtin13(n: int) -> str:
    """A valid EAN-13 built from a running number (GS1 mod-10 check digit)."""
    body = f"400{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("correct-horse-battery")


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    code = factory.Sequence(lambda n: f"channel-{n}")
    name = factory.Sequence(lambda n: f"Channel {n}")
    kind = Channel.Kind.STOREFRONT
    platform = Channel.Platform.SHOPIFY
    region = "US"
    currency = "USD"
    webhook_secret = "hush"


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse

    code = factory.Sequence(lambda n: f"wh-{n}")
    name = factory.Sequence(lambda n: f"Warehouse {n}")
    operator = Warehouse.Operator.OWN
    provider = ""
    country = "US"


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    warehouse = factory.SubFactory(WarehouseFactory)
    code = factory.Sequence(lambda n: f"LOC-{n}")
    name = factory.LazyAttribute(lambda loc: f"Location {loc.code}")
    kind = Location.Kind.STOCK


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ["code"]

    code = "tops"
    name = "Tops"
    department = Category.Department.APPAREL


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    gtin = factory.Sequence(lambda n: "0" + gtin13(n))
    category = factory.SubFactory(CategoryFactory)
    tracking = Product.Tracking.NONE
    unit_cost = Decimal("12.00")
    list_price = Decimal("30.00")


class BundleComponentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BundleComponent

    bundle = factory.SubFactory(ProductFactory)
    component = factory.SubFactory(ProductFactory)
    quantity = 1


class ChannelListingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelListing

    channel = factory.SubFactory(ChannelFactory)
    product = factory.SubFactory(ProductFactory)
    channel_sku = factory.Sequence(lambda n: f"CH-SKU-{n}")
    listing_id = factory.Sequence(lambda n: f"LIST{n:08d}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@example.test")
    name = factory.Sequence(lambda n: f"Customer {n}")
    segment = Customer.Segment.STANDARD


class SalesOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SalesOrder

    channel = factory.SubFactory(ChannelFactory)
    number = factory.Sequence(lambda n: f"{1000 + n}")
    customer = factory.SubFactory(CustomerFactory)
    currency = factory.LazyAttribute(lambda order: order.channel.currency)
    placed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=10))
    shipped_at = factory.LazyAttribute(lambda order: order.placed_at + timedelta(days=1))
    delivered_at = factory.LazyAttribute(lambda order: order.shipped_at + timedelta(days=3))


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(SalesOrderFactory)
    line_number = factory.Sequence(lambda n: n + 1)
    product = factory.SubFactory(ProductFactory)
    quantity = 1
    unit_price = Decimal("30.00")


class ShippedItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShippedItem

    line = factory.SubFactory(OrderLineFactory)
    serial_number = factory.Sequence(lambda n: f"SN{n:08d}")
    quantity = 1
