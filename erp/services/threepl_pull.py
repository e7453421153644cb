"""Scheduled pulls of 3PL stock (ShipBob, Extensiv) into the inbox.

A pull fetches every page outside any transaction, then records the whole result as one
inbound event (source shipbob / extensiv), so the inbox's idempotency, parking and replay
apply exactly as for a webhook; reconciliation's registered handler turns it into a snapshot.
Where to pull from is `ERP_THREEPL_BASE_URLS[source]`; the bearer token is the account's
`IntegrationCredential.secret`.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from erp.adapters.threepl import PULL_ID_HEADER, PULLED_AT_HEADER
from erp.adapters.threepl_pull import PULLS, ThreePLPullError
from erp.models import IntegrationCredential

from .inbox import Recorded, inbound_event_record

logger = logging.getLogger(__name__)

DEFAULT_BASE_URLS = {
    "shipbob": "https://api.shipbob.com/1.0",
    "extensiv": "https://secure-wms.com",
}
PULL_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class PullOutcome:
    source: str
    account: str
    event_id: int | None = None
    created: bool = False
    error: str = ""


def _base_url(source: str) -> str:
    return {**DEFAULT_BASE_URLS, **getattr(settings, "ERP_THREEPL_BASE_URLS", {})}[source]


def threepl_stock_pull(
    *, source: str, account: str, pull_id: str = "", now: datetime | None = None
) -> Recorded:
    """Pull one account's stock summary and record it as one inbound event.

    Effects: reads every page from the 3PL (ThreePLPullError when it refuses or is down,
    MalformedPayload when a page is not the documented shape; nothing is written then);
    then records one InboundEvent whose external id is `pull_id` (e.g. the schedule slot, so
    a re-run of the same pull records nothing new) and whose time is `now`, and queues its
    processing after commit.
    """
    client = PULLS[source]
    credential = IntegrationCredential.objects.get(source=source, account=account, is_active=True)
    moment = now or timezone.now()
    body = client(base_url=_base_url(source), token=credential.secret, timeout=PULL_TIMEOUT_SECONDS)
    headers = {PULLED_AT_HEADER: moment.isoformat()}
    if pull_id:
        headers[PULL_ID_HEADER] = f"{account}:{pull_id}"
    return inbound_event_record(source=source, account=account, body=body, headers=headers)


def threepl_stock_pull_all(*, slot: str, now: datetime | None = None) -> list[PullOutcome]:
    """Pull every active ShipBob and Extensiv account once for schedule `slot`.

    Effects: as `threepl_stock_pull` per account; one account's failure is logged and
    reported in its outcome without stopping the others."""
    outcomes = []
    credentials = IntegrationCredential.objects.filter(source__in=list(PULLS), is_active=True)
    for credential in credentials.order_by("source", "account"):
        try:
            recorded = threepl_stock_pull(
                source=credential.source, account=credential.account, pull_id=slot, now=now
            )
        except (ThreePLPullError, ValueError) as error:
            logger.warning(
                "3PL pull %s/%s failed: %s", credential.source, credential.account, error
            )
            outcomes.append(PullOutcome(credential.source, credential.account, error=str(error)))
            continue
        outcomes.append(
            PullOutcome(credential.source, credential.account, recorded.event.pk, recorded.created)
        )
    return outcomes
