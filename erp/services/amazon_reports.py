"""Amazon returns reports (FBA customer returns, MFN returns) into the inbox, one event per
row: from an upload, a management command, or the scheduled SP-API pull.

The inbox makes a row idempotent (its canonical body is its identity), parks what master data
cannot place, and lets `returns` apply it through its registered handler.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from erp.adapters.amazon import (
    FBA_RETURNS,
    REPORT_FILE_HEADER,
    REPORT_ROW_HEADER,
    CustomerReturnsReport,
    RowError,
    customer_returns_parse,
)
from erp.adapters.amazon_reports_api import ReportsApiError, report_fetch
from erp.adapters.base import MalformedPayload
from erp.models import Channel, IntegrationCredential
from erp.models.inbox import InboundSource

from .inbox import REPLAY_PERMISSION, inbound_event_record

logger = logging.getLogger(__name__)

# Importing a report feeds the inbox, as a replay does: the same people may do it.
IMPORT_PERMISSION = REPLAY_PERMISSION
DEFAULT_SPAPI_BASE_URL = "https://sellingpartnerapi-na.amazon.com"
DEFAULT_MARKETPLACE_IDS = ("ATVPDKIKX0DER",)
# FBA returns rows are back-updated for weeks: each pull re-reads this far back, and rows
# already seen are duplicates that change nothing.
LOOKBACK = timedelta(days=30)


@dataclass(frozen=True)
class ReturnsImport:
    report: CustomerReturnsReport
    recorded: int
    duplicates: int
    event_ids: tuple[int, ...]

    @property
    def errors(self) -> tuple[RowError, ...]:
        return self.report.errors


@transaction.atomic
def amazon_returns_report_import(
    *, body: bytes, account: str, actor: AbstractBaseUser | None, filename: str = ""
) -> ReturnsImport:
    """Record every readable row of an Amazon returns report as an inbound event of
    `account` (the Amazon channel's code).

    Effects: refuses a person without `erp.replay_inboundevent` (PermissionDenied; None is
    the system); a file that is no returns report, or an unknown account, is a
    ValidationError and writes nothing. Otherwise records one InboundEvent per row (source
    amazon, topic fba_customer_returns / mfn_returns), queued for processing after commit; a
    row already recorded, from this file or an earlier one, records nothing. Rows that cannot
    be read are returned as errors (row, column, why) and skipped.
    """
    if actor is not None and not actor.has_perm(IMPORT_PERMISSION):
        raise PermissionDenied("You may not import Amazon reports.")
    if not Channel.objects.filter(code=account, platform=Channel.Platform.AMAZON).exists():
        raise ValidationError(f"No Amazon channel has the code {account!r}.", code="account")
    try:
        report = customer_returns_parse(body)
    except MalformedPayload as error:
        raise ValidationError(str(error), code="not_a_report") from error
    recorded, ids = 0, []
    for row in report.rows:
        headers = {REPORT_ROW_HEADER: str(row.row)}
        if filename:
            headers[REPORT_FILE_HEADER] = filename[:200]
        outcome = inbound_event_record(
            source=InboundSource.AMAZON, account=account, body=row.as_body(), headers=headers
        )
        recorded += outcome.created
        ids.append(outcome.event.pk)
    return ReturnsImport(report, recorded, len(report.rows) - recorded, tuple(ids))


def _spapi_base_url() -> str:
    return getattr(settings, "ERP_AMAZON_SPAPI_BASE_URL", DEFAULT_SPAPI_BASE_URL)


def amazon_returns_report_pull(
    *,
    account: str,
    report_type: str = FBA_RETURNS,
    now: datetime | None = None,
    poll_seconds: float | None = None,
) -> ReturnsImport:
    """Pull the returns report of the last LOOKBACK from the SP-API for `account` and import
    it as `amazon_returns_report_import` does (as the system).

    Effects: none while talking to Amazon (outside any transaction; ReportsApiError or
    MalformedPayload when the flow fails, nothing written); then the import's effects. The
    access token is the account's IntegrationCredential (source amazon) secret."""
    credential = IntegrationCredential.objects.get(
        source=InboundSource.AMAZON, account=account, is_active=True
    )
    moment = now or timezone.now()
    body = report_fetch(
        base_url=_spapi_base_url(),
        token=credential.secret,
        report_type=report_type,
        marketplace_ids=getattr(settings, "ERP_AMAZON_MARKETPLACE_IDS", DEFAULT_MARKETPLACE_IDS),
        data_start=moment - LOOKBACK,
        data_end=moment,
        poll_seconds=(
            poll_seconds
            if poll_seconds is not None
            else getattr(settings, "ERP_AMAZON_REPORT_POLL_SECONDS", 15)
        ),
    )
    return amazon_returns_report_import(
        body=body, account=account, actor=None, filename=f"{report_type} {moment:%Y-%m-%d %H:%M}"
    )


def amazon_returns_report_pull_all(*, now: datetime | None = None) -> dict[str, str]:
    """Pull every active Amazon account once; one account's failure does not stop the others.

    Effects: as `amazon_returns_report_pull` per account. Returns {account: outcome}."""
    outcomes = {}
    accounts = IntegrationCredential.objects.filter(source=InboundSource.AMAZON, is_active=True)
    for account in accounts.order_by("account").values_list("account", flat=True):
        try:
            result = amazon_returns_report_pull(account=account, now=now)
        except (ReportsApiError, MalformedPayload, ValidationError) as error:
            logger.warning("Amazon returns pull for %s failed: %s", account, error)
            outcomes[account] = f"failed: {error}"
            continue
        outcomes[account] = f"{result.recorded} new rows, {result.duplicates} already seen"
    return outcomes
