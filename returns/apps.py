"""The returns workflow: policies, return cases (RMA), risk screening, customer service."""

from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "returns"
    verbose_name = "Returns"

    def ready(self) -> None:
        # Customer e-mails leave through the core outbox; the core never imports returns.
        from erp.services import outbox_sender_register
        from returns.messages import TOPIC, customer_message_send

        outbox_sender_register(topic=TOPIC, sender=customer_message_send)
