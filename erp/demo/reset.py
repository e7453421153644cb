"""Is there master data already, and clearing it before a re-seed."""

from django.db import IntegrityError, connection

from erp.models import (
    BundleComponent,
    Category,
    Channel,
    ChannelListing,
    Customer,
    CustomerChannelAccount,
    Location,
    OrderLine,
    Product,
    ReasonCodeMapping,
    SalesOrder,
    ShippedItem,
    Warehouse,
)

# Children before parents. Reason codes (created by a migration) and users are not master data
# the seed creates, so they stay.
SEEDED_MODELS = [
    ShippedItem,
    OrderLine,
    SalesOrder,
    CustomerChannelAccount,
    Customer,
    ReasonCodeMapping,
    ChannelListing,
    BundleComponent,
    Product,
    Category,
    Location,
    Warehouse,
    Channel,
]


class DemoResetBlocked(Exception):
    """Other data (returns, stock movements…) still refers to the master data to delete."""


def demo_data_present() -> bool:
    return any(model.objects.exists() for model in (Channel, Warehouse, Product, Customer))


def demo_data_reset() -> dict[str, int]:
    """Effects: deletes every row of the seeded master-data tables; returns rows deleted per
    table. Call inside a transaction.

    Plain DELETEs rather than `QuerySet.delete()`: the ORM would load every order to send
    signals (django-simple-history writes a history row per deleted object), which takes
    minutes at 100k orders. No CASCADE and no TRUNCATE either: if anything outside these
    tables still points at them, the foreign keys refuse and `DemoResetBlocked` is raised, so
    a reset can only ever remove the seeded tables' own rows.
    """
    deleted = {}
    with connection.cursor() as cursor:
        try:
            for model in SEEDED_MODELS:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
                deleted[str(model._meta.verbose_name_plural)] = cursor.rowcount
            if connection.vendor == "postgresql":
                # Django's foreign keys are checked at commit; check them now, while the
                # error can still be reported as a refusal, then defer them again as Django
                # expects for the rest of the transaction.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        except IntegrityError as error:
            raise DemoResetBlocked(str(error)) from error
    return deleted
