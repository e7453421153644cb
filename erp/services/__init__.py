"""Writes of the core app: master data, the exception queue, the outbox. Import from here."""

from .exceptions import (
    exception_add_note,
    exception_assign,
    exception_dismiss,
    exception_escalate,
    exception_open,
    exception_resolution_handler_register,
    exception_resolution_handler_unregister,
    exception_resolve,
    exceptions_escalate_overdue,
)
from .master_data import (
    platform_reason_map,
    reason_mappings_load_platform_defaults,
    worker_heartbeat_record,
)
from .outbox import outbox_enqueue

__all__ = [
    "exception_add_note",
    "exception_assign",
    "exception_dismiss",
    "exception_escalate",
    "exception_open",
    "exception_resolution_handler_register",
    "exception_resolution_handler_unregister",
    "exception_resolve",
    "exceptions_escalate_overdue",
    "outbox_enqueue",
    "platform_reason_map",
    "reason_mappings_load_platform_defaults",
    "worker_heartbeat_record",
]
