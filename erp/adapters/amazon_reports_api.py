"""An HTTP client for the Selling Partner API Reports flow (2021-06-30): createReport, then
getReport until it is DONE, then getReportDocument, then the document itself (gzip or not).

The access token goes in `x-amz-access-token`; the caller says where the API lives, so tests
speak to a server on 127.0.0.1.
"""

import gzip
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import datetime

from .base import MalformedPayload

API = "/reports/2021-06-30"
# Polls of getReport before giving up; the schedule tries again at its next run.
MAX_POLLS = 30


class ReportsApiError(Exception):
    """Amazon refused, failed the report, or could not be reached."""


def _call(method: str, url: str, *, token: str, timeout: float, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={
            "x-amz-access-token": token,
            "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        detail = error.read()[:200].decode("utf-8", errors="replace")
        raise ReportsApiError(f"HTTP {error.code} from {url}: {detail}") from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise ReportsApiError(f"{url} unreachable: {error}") from error


def _json(raw: bytes, what: str) -> dict:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise MalformedPayload(f"{what} answered with something not JSON: {error}") from error
    if not isinstance(data, dict):
        raise MalformedPayload(f"{what} answered with JSON that is not an object.")
    return data


def report_fetch(
    *,
    base_url: str,
    token: str,
    report_type: str,
    marketplace_ids: Sequence[str],
    data_start: datetime,
    data_end: datetime,
    timeout: float = 30,
    poll_seconds: float = 15,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """Request a report for the period and return its document's bytes, decompressed.

    Raises ReportsApiError when the API refuses, the report ends CANCELLED or FATAL, or it is
    not done after MAX_POLLS polls; MalformedPayload when an answer lacks what the flow needs.
    """
    base = base_url.rstrip("/") + API
    created = _json(
        _call(
            "POST",
            f"{base}/reports",
            token=token,
            timeout=timeout,
            body={
                "reportType": report_type,
                "marketplaceIds": list(marketplace_ids),
                "dataStartTime": data_start.isoformat(),
                "dataEndTime": data_end.isoformat(),
            },
        ),
        "createReport",
    )
    report_id = created.get("reportId")
    if not report_id:
        raise MalformedPayload("createReport answered without a reportId.")
    for attempt in range(MAX_POLLS):
        report = _json(
            _call("GET", f"{base}/reports/{report_id}", token=token, timeout=timeout), "getReport"
        )
        status = report.get("processingStatus")
        if status == "DONE":
            document_id = report.get("reportDocumentId")
            if not document_id:
                raise MalformedPayload("getReport is DONE without a reportDocumentId.")
            return _document(base, document_id, token=token, timeout=timeout)
        if status in ("CANCELLED", "FATAL"):
            raise ReportsApiError(f"Amazon ended report {report_id} as {status}.")
        if attempt + 1 < MAX_POLLS:
            sleep(poll_seconds)
    raise ReportsApiError(f"Report {report_id} was not done after {MAX_POLLS} polls.")


def _document(base: str, document_id: str, *, token: str, timeout: float) -> bytes:
    document = _json(
        _call("GET", f"{base}/documents/{document_id}", token=token, timeout=timeout),
        "getReportDocument",
    )
    url = document.get("url")
    if not url:
        raise MalformedPayload("getReportDocument answered without a url.")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise ReportsApiError(f"HTTP {error.code} downloading report document") from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise ReportsApiError(f"Report document unreachable: {error}") from error
    if (document.get("compressionAlgorithm") or "").upper() == "GZIP":
        try:
            return gzip.decompress(raw)
        except OSError as error:
            raise MalformedPayload(f"The report document is not gzip: {error}") from error
    return raw
