"""factory_boy factories for master data; domain apps add theirs beside these."""

from .exceptions import ExceptionCaseFactory, ExceptionNoteFactory
from .master_data import (
    BundleComponentFactory,
    CategoryFactory,
    ChannelFactory,
    ChannelListingFactory,
    CustomerFactory,
    LocationFactory,
    OrderLineFactory,
    ProductFactory,
    SalesOrderFactory,
    ShippedItemFactory,
    UserFactory,
    WarehouseFactory,
)

__all__ = [
    "BundleComponentFactory",
    "CategoryFactory",
    "ChannelFactory",
    "ChannelListingFactory",
    "CustomerFactory",
    "ExceptionCaseFactory",
    "ExceptionNoteFactory",
    "LocationFactory",
    "OrderLineFactory",
    "ProductFactory",
    "SalesOrderFactory",
    "ShippedItemFactory",
    "UserFactory",
    "WarehouseFactory",
]
