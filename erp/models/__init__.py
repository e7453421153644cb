"""Master data every other app refers to, plus the workspaces roles are granted."""

from .access import Workspace
from .catalog import BundleComponent, Category, ChannelListing, Product
from .channels import Channel
from .customers import Customer, CustomerChannelAccount
from .exceptions import ExceptionCase, ExceptionNote
from .health import WorkerHeartbeat
from .inbox import InboundEvent, IntegrationCredential, OutboundEndpoint
from .orders import OrderLine, SalesOrder, ShippedItem
from .outbox import OutboxMessage
from .reasons import ReasonCode, ReasonCodeMapping
from .sites import Location, Warehouse

__all__ = [
    "BundleComponent",
    "Category",
    "Channel",
    "ChannelListing",
    "Customer",
    "CustomerChannelAccount",
    "ExceptionCase",
    "ExceptionNote",
    "InboundEvent",
    "IntegrationCredential",
    "Location",
    "OrderLine",
    "OutboundEndpoint",
    "OutboxMessage",
    "Product",
    "ReasonCode",
    "ReasonCodeMapping",
    "SalesOrder",
    "ShippedItem",
    "Warehouse",
    "WorkerHeartbeat",
    "Workspace",
]
