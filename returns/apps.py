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

        # Carrier milestones, Shopify's returns lifecycle and 3PL returns reports reach cases
        # through the inbox.
        from returns.channel_events import amazon_handlers_register, shopify_handlers_register
        from returns.handlers import carrier_handlers_register
        from returns.threepl_reports import threepl_handlers_register

        carrier_handlers_register()
        threepl_handlers_register()
        # A resolved fraud review moves its held case on (authorized or rejected).
        from returns.fraud_review import fraud_review_handler_register

        fraud_review_handler_register()
        shopify_handlers_register()
        amazon_handlers_register()
