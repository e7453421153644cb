"""factory_boy factories for master data; domain apps add theirs beside these."""

from .exceptions import ExceptionCaseFactory, ExceptionNoteFactory
from .integrations import InboundEventFactory
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
from .returns import PolicyRuleFactory, PolicyRuleSetFactory, ReturnCaseFactory

__all__ = [
    "BundleComponentFactory",
    "CategoryFactory",
    "ChannelFactory",
    "ChannelListingFactory",
    "CustomerFactory",
    "ExceptionCaseFactory",
    "ExceptionNoteFactory",
    "InboundEventFactory",
    "LocationFactory",
    "OrderLineFactory",
    "PolicyRuleFactory",
    "PolicyRuleSetFactory",
    "ProductFactory",
    "ReturnCaseFactory",
    "SalesOrderFactory",
    "ShippedItemFactory",
    "UserFactory",
    "WarehouseFactory",
]
