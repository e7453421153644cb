"""Customer e-mails about a return: the outbox sender for the "customer.message" topic.

`returns.services` queues a message (template name + case id) in the transaction that changes
the case; the outbox dispatcher calls `customer_message_send` after commit, which renders
templates/returns/email/<template>.txt (first line "Subject: …") and sends it through Django's
e-mail backend. Registered in ReturnsConfig.ready().
"""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from erp.models import OutboxMessage

from .models import ReturnCase, ReturnCaseMessage
from .selectors import return_case_next_step

TOPIC = "customer.message"


def customer_message_render(*, template: str, case: ReturnCase) -> tuple[str, str]:
    """(subject, body) of `template` about `case`."""
    ReturnCaseMessage.Template(template)  # an unknown template is an error, not a blank mail
    text = render_to_string(
        f"returns/email/{template}.txt",
        {"case": case, "next_step": return_case_next_step(case=case)},
    )
    first, _, body = text.strip().partition("\n")
    return first.removeprefix("Subject:").strip(), body.strip() + "\n"


def customer_message_send(message: OutboxMessage) -> None:
    """Send one queued customer message; raises (and the dispatcher retries) on failure."""
    payload = message.payload
    case = ReturnCase.objects.select_related("customer", "order", "channel").get(
        pk=payload["case_id"]
    )
    subject, body = customer_message_render(template=payload["template"], case=case)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [payload["to"]], fail_silently=False)
