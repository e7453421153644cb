from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "finance"
    verbose_name = "Finance"

    def ready(self) -> None:
        # Refunds are executed by the outbox after commit; an exception opened on a return
        # case holds its refunds and resolving it releases them (erp never imports finance).
        from erp.models.exceptions import ExceptionKind, SubjectType
        from erp.services import (
            exception_open_handler_register,
            exception_resolution_handler_register,
            outbox_sender_register,
        )
        from finance.services.refunds import (
            REFUND_TOPIC,
            exception_opened_hold_refunds,
            exception_resolved_release_refunds,
            refund_outbox_send,
        )

        outbox_sender_register(topic=REFUND_TOPIC, sender=refund_outbox_send)
        for kind in ExceptionKind:
            exception_open_handler_register(
                kind=kind,
                subject_type=SubjectType.RETURN_CASE,
                handler=exception_opened_hold_refunds,
            )
            exception_resolution_handler_register(
                kind=kind,
                subject_type=SubjectType.RETURN_CASE,
                handler=exception_resolved_release_refunds,
            )
