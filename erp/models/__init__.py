"""Master data every other app refers to, plus the workspaces roles are granted."""

from .access import Workspace
from .catalog import BundleComponent, Category, ChannelListing, Product
from .channels import Channel
from .customers import Customer, CustomerChannelAccount
from .health import WorkerHeartbeat
from .orders import OrderLine, SalesOrder, ShippedItem
from .reasons import ReasonCode, ReasonCodeMapping
from .sites import Location, Warehouse

__all__ = [
    "BundleComponent",
    "Category",
    "Channel",
    "ChannelListing",
    "Customer",
    "CustomerChannelAccount",
    "Location",
    "OrderLine",
    "Product",
    "ReasonCode",
    "ReasonCodeMapping",
    "SalesOrder",
    "ShippedItem",
    "Warehouse",
    "WorkerHeartbeat",
    "Workspace",
]
