from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        # 3PL stock feeds become reconciliation snapshots; the core never imports inventory.
        from erp.services.inbox import inbox_handler_register
        from erp.services.inbox_batch import inbox_batch_preparer_register
        from erp.services.inbox_schedule import inbox_batch_footprint_register
        from inventory.reconciliation import (
            THREEPL_SNAPSHOT_TOPICS,
            threepl_snapshot_handle,
            threepl_snapshots_footprint,
            threepl_snapshots_prepare,
        )

        for source, topic in THREEPL_SNAPSHOT_TOPICS:
            inbox_handler_register(source=source, topic=topic, handler=threepl_snapshot_handle)
            inbox_batch_preparer_register(
                source=source, topic=topic, preparer=threepl_snapshots_prepare
            )
            inbox_batch_footprint_register(
                source=source, topic=topic, footprint=threepl_snapshots_footprint
            )

        # ATS changes leave through the outbox to each channel's availability endpoint.
        from erp.services.outbox_dispatch import outbox_sender_register
        from inventory.availability_sync import TOPIC, availability_message_send

        outbox_sender_register(topic=TOPIC, sender=availability_message_send)
