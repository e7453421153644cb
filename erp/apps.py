from django.apps import AppConfig


class ErpConfig(AppConfig):
    name = "erp"
    verbose_name = "Core and master data"

    def ready(self) -> None:
        # History tables of every app are append-only (PostgreSQL and SQLite), also later ones.
        from django.db.models.signals import post_migrate

        from erp.security import history_protect

        post_migrate.connect(history_protect, dispatch_uid="erp.history_protect")
        # The inbox topics the core app applies itself; other apps register theirs in their
        # own ready() (erp.services.inbox).
        from erp.models.inbox import InboundSource
        from erp.services.inbox import inbox_handler_register
        from erp.services.order_import import shopify_order_import

        inbox_handler_register(
            source=InboundSource.SHOPIFY, topic="orders/updated", handler=shopify_order_import
        )
