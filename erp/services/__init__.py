"""Writes of the core app: master data, the exception queue, the inbox and the outbox.
Import from here."""

from .exceptions import (
    exception_add_note,
    exception_assign,
    exception_dismiss,
    exception_escalate,
    exception_open,
    exception_open_handler_register,
    exception_open_handler_unregister,
    exception_resolution_handler_register,
    exception_resolution_handler_unregister,
    exception_resolve,
    exception_resolve_as_system,
    exceptions_escalate_overdue,
)
from .inbox import (
    InboundEventParked,
    inbound_event_process,
    inbound_event_record,
    inbound_event_replay,
    inbound_events_requeue_stale,
    inbox_handler_register,
    inbox_handler_unregister,
)
from .master_data import (
    platform_reason_map,
    reason_mappings_load_platform_defaults,
    worker_heartbeat_record,
)
from .outbox import outbox_enqueue, outbox_enqueue_noted, outbox_enqueue_noted_many
from .outbox_dispatch import (
    outbox_dispatch_after_commit,
    outbox_dispatch_due,
    outbox_message_replay,
    outbox_sender_register,
    outbox_sender_unregister,
)

__all__ = [
    "InboundEventParked",
    "exception_add_note",
    "exception_assign",
    "exception_dismiss",
    "exception_escalate",
    "exception_open",
    "exception_open_handler_register",
    "exception_open_handler_unregister",
    "exception_resolution_handler_register",
    "exception_resolution_handler_unregister",
    "exception_resolve",
    "exception_resolve_as_system",
    "exceptions_escalate_overdue",
    "inbound_event_process",
    "inbound_event_record",
    "inbound_event_replay",
    "inbound_events_requeue_stale",
    "inbox_handler_register",
    "inbox_handler_unregister",
    "outbox_dispatch_after_commit",
    "outbox_dispatch_due",
    "outbox_enqueue",
    "outbox_enqueue_noted",
    "outbox_enqueue_noted_many",
    "outbox_message_replay",
    "outbox_sender_register",
    "outbox_sender_unregister",
    "platform_reason_map",
    "reason_mappings_load_platform_defaults",
    "worker_heartbeat_record",
]
