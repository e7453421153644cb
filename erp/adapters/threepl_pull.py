"""HTTP clients that pull 3PL stock summaries: ShipBob (`GET /inventory`, paged by `Page` and
`Limit`) and Extensiv SecureWMS (`GET /inventory/stocksummaries`, paged by `pgnum` and
`pgsiz` until `totalResults`). Each returns every page as one JSON body in the shape the
parsers of `erp.adapters.threepl` read, so one pull is one inbound event and one snapshot.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from .base import MalformedPayload, lower_keys

PAGE_SIZE = 250
# A runaway paginator (a server that never says "last page") stops here, loudly.
MAX_PAGES = 400


class ThreePLPullError(Exception):
    """The 3PL refused the pull or could not be reached; the scheduled task tries again."""


def _get_json(url: str, *, token: str, timeout: float):
    request = urllib.request.Request(
        url,
        method="GET",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        detail = error.read()[:200].decode("utf-8", errors="replace")
        raise ThreePLPullError(f"HTTP {error.code} from {url}: {detail}") from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise ThreePLPullError(f"{url} unreachable: {error}") from error
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise MalformedPayload(f"{url} answered with something not JSON: {error}") from error


def _url(base: str, path: str, params: dict) -> str:
    return f"{base.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"


def shipbob_inventory_pull(
    *, base_url: str, token: str, timeout: float = 30, page_size: int = PAGE_SIZE
) -> bytes:
    """Every inventory item, all pages: `{"items": [...]}`. A page shorter than the limit is
    the last one."""
    items: list = []
    for page in range(1, MAX_PAGES + 1):
        data = _get_json(
            _url(base_url, "/inventory", {"Page": page, "Limit": page_size}),
            token=token,
            timeout=timeout,
        )
        batch = data if isinstance(data, list) else [data] if isinstance(data, dict) else None
        if batch is None:
            raise MalformedPayload("ShipBob answered /inventory with neither a list nor an item.")
        items.extend(batch)
        if len(batch) < page_size:
            return json.dumps({"items": items}, separators=(",", ":")).encode()
    raise ThreePLPullError(f"ShipBob /inventory did not end within {MAX_PAGES} pages.")


def extensiv_stock_summaries_pull(
    *, base_url: str, token: str, timeout: float = 30, page_size: int = PAGE_SIZE
) -> bytes:
    """Every stock summary, all pages: `{"totalResults": n, "summaries": [...]}`, whatever the
    casing of the keys the server uses."""
    summaries: list = []
    for page in range(1, MAX_PAGES + 1):
        data = lower_keys(
            _get_json(
                _url(base_url, "/inventory/stocksummaries", {"pgsiz": page_size, "pgnum": page}),
                token=token,
                timeout=timeout,
            )
        )
        batch = data.get("summaries") if isinstance(data, dict) else None
        if not isinstance(batch, list):
            raise MalformedPayload("Extensiv answered stocksummaries without a list of summaries.")
        summaries.extend(batch)
        total = data.get("totalresults")
        done = len(summaries) >= int(total) if total not in (None, "") else len(batch) < page_size
        if done or not batch:
            return json.dumps(
                {"totalResults": len(summaries), "summaries": summaries}, separators=(",", ":")
            ).encode()
    raise ThreePLPullError(f"Extensiv stocksummaries did not end within {MAX_PAGES} pages.")


PULLS: dict[str, Callable[..., bytes]] = {
    "shipbob": shipbob_inventory_pull,
    "extensiv": extensiv_stock_summaries_pull,
}
