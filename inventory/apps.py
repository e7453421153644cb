from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        # 3PL stock feeds become reconciliation snapshots; the core never imports inventory.
        from erp.services.inbox import inbox_handler_register
        from inventory.reconciliation import THREEPL_SNAPSHOT_TOPICS, threepl_snapshot_handle

        for source, topic in THREEPL_SNAPSHOT_TOPICS:
            inbox_handler_register(source=source, topic=topic, handler=threepl_snapshot_handle)

        # ATS changes leave through the outbox to each channel's availability endpoint.
        from erp.services.outbox_dispatch import outbox_sender_register
        from inventory.availability_sync import TOPIC, availability_message_send

        outbox_sender_register(topic=TOPIC, sender=availability_message_send)
