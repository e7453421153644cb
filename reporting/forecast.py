"""Inbound returns forecast: expected units arriving per warehouse per day, next 14 days.

Model, everything learned from the 180 days before `as_of` and read "as of" that moment from
the cases' timestamps (so the same code backtests):

1. Pipeline (cases we know of). Delivered but not received: today. Shipped, not yet
   delivered or received: shipped_at + the warehouse's median transit (shipped → received;
   5 days with no history), today when already late. Authorized, not yet shipped: weighted by
   the share of authorized cases that ship, arriving at max(now, authorized_at + median
   authorization → shipment) + transit. Cases still awaiting authorization are not counted.
2. Fresh returns (not requested yet). For each order line shipped from the warehouse in the
   last 90 days, the units not already on a case x the warehouse's return rate (returned /
   shipped units) x the chance a returned unit arrives on that day, from the histogram of days
   between an order's shipment and the case's receipt, conditioned on it not having come back
   yet: r·h(a+d) / (1 - r·H(a-1)) for a line a days old on forecast day d.

A case's warehouse is its expected warehouse, else the one its order shipped from; fresh
returns are expected back where they shipped from.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from erp.models import OrderLine, Warehouse
from returns.models import ReturnCase, ReturnLine

from .kpis.stats import percentile_cont

HORIZON_DAYS = 14
HISTORY = timedelta(days=180)
RECENT_SHIPMENTS = timedelta(days=90)
MAX_DELAY_DAYS = 120
DEFAULT_TRANSIT = timedelta(days=5)
DEFAULT_SHIP_DELAY = timedelta(days=2)
ROW_LIMIT = 50_000


@dataclass(frozen=True)
class ForecastModel:
    transit: dict[int, timedelta]
    ship_delay: timedelta
    ship_rate: float
    return_rate: dict[int, float]
    delay_pmf: list[float]

    def transit_for(self, warehouse_id: int) -> timedelta:
        return self.transit.get(warehouse_id, DEFAULT_TRANSIT)


@dataclass(frozen=True)
class WarehouseForecast:
    warehouse_id: int
    warehouse: str
    pipeline: list[float]
    fresh: list[float]

    @property
    def total(self) -> list[float]:
        return [round(a + b, 2) for a, b in zip(self.pipeline, self.fresh, strict=True)]


@dataclass(frozen=True)
class Forecast:
    as_of: datetime
    days: list[date]
    warehouses: list[WarehouseForecast]
    model: ForecastModel


def _warehouse_of(expected_id: int | None, ship_from_id: int | None) -> int | None:
    return expected_id or ship_from_id


def _case_units(case_ids) -> dict[int, int]:
    rows = (
        ReturnLine.objects.filter(case_id__in=case_ids)
        .order_by()
        .values("case_id")
        .annotate(n=Sum("quantity"))
    )
    return {row["case_id"]: row["n"] for row in rows}


def forecast_model(*, as_of: datetime) -> ForecastModel:
    """The model's parameters learned from the cases and orders of the 180 days to `as_of`."""
    since = as_of - HISTORY
    received = ReturnCase.objects.filter(
        received_at__gte=since, received_at__lt=as_of, shipped_at__isnull=False
    ).values_list("expected_warehouse_id", "order__ship_from_id", "shipped_at", "received_at")
    transits = defaultdict(list)
    for expected, ship_from, shipped, arrived in received[:ROW_LIMIT]:
        transits[_warehouse_of(expected, ship_from)].append(arrived - shipped)
    delays = ReturnCase.objects.filter(
        shipped_at__gte=since, shipped_at__lt=as_of, authorized_at__isnull=False
    ).values_list("authorized_at", "shipped_at")[:ROW_LIMIT]
    ship_delay = percentile_cont([shipped - authorized for authorized, shipped in delays], 0.5)
    decided = ReturnCase.objects.filter(
        authorized_at__gte=since, authorized_at__lt=as_of - timedelta(days=30)
    ).aggregate(n=Count("pk"), shipped=Count("pk", filter=Q(shipped_at__lt=as_of)))
    shipped_out = dict(
        OrderLine.objects.filter(order__shipped_at__gte=since, order__shipped_at__lt=as_of)
        .order_by()
        .values_list("order__ship_from_id")
        .annotate(n=Sum("quantity"))
    )
    back = ReturnLine.objects.filter(
        case__received_at__gte=since,
        case__received_at__lt=as_of,
        order_line__order__shipped_at__isnull=False,
    ).values_list(
        "case__expected_warehouse_id",
        "order_line__order__ship_from_id",
        "quantity",
        "case__received_at",
        "order_line__order__shipped_at",
    )[:ROW_LIMIT]
    returned = defaultdict(int)
    histogram = [0] * (MAX_DELAY_DAYS + 1)
    for _expected, ship_from, qty, arrived, shipped in back:
        returned[ship_from] += qty
        histogram[min(max((arrived.date() - shipped.date()).days, 0), MAX_DELAY_DAYS)] += qty
    total_back = sum(histogram)
    return ForecastModel(
        transit={w: percentile_cont(values, 0.5) for w, values in transits.items() if w},
        ship_delay=ship_delay or DEFAULT_SHIP_DELAY,
        ship_rate=(decided["shipped"] or 0) / decided["n"] if decided["n"] else 1.0,
        return_rate={
            w: min(returned[w] / n, 1.0) for w, n in shipped_out.items() if w is not None and n
        },
        delay_pmf=[count / total_back for count in histogram]
        if total_back
        else [0.0] * (MAX_DELAY_DAYS + 1),
    )


def _add(series: list[float], day: int, units: float) -> None:
    if day < len(series):
        series[max(day, 0)] += units


def _pipeline(as_of: datetime, model: ForecastModel, out: dict[int, list[float]]) -> None:
    not_received = Q(received_at__isnull=True) | Q(received_at__gte=as_of)
    still_open = (Q(cancelled_at__isnull=True) | Q(cancelled_at__gte=as_of)) & (
        Q(expired_at__isnull=True) | Q(expired_at__gte=as_of)
    )
    cases = list(
        ReturnCase.objects.filter(not_received, still_open, authorized_at__lt=as_of).values_list(
            "pk",
            "expected_warehouse_id",
            "order__ship_from_id",
            "authorized_at",
            "shipped_at",
            "delivered_at",
        )[:ROW_LIMIT]
    )
    units = _case_units([case[0] for case in cases])
    today = as_of.date()
    for pk, expected, ship_from, authorized, shipped, delivered in cases:
        warehouse = _warehouse_of(expected, ship_from)
        if warehouse not in out:
            continue
        qty = units.get(pk, 0)
        if delivered is not None and delivered < as_of:
            _add(out[warehouse], 0, qty)
        elif shipped is not None and shipped < as_of:
            eta = shipped + model.transit_for(warehouse)
            _add(out[warehouse], (eta.date() - today).days, qty)
        else:
            leaves = max(as_of, authorized + model.ship_delay)
            eta = leaves + model.transit_for(warehouse)
            _add(out[warehouse], (eta.date() - today).days, qty * model.ship_rate)


def _fresh(as_of: datetime, model: ForecastModel, out: dict[int, list[float]]) -> None:
    claimed = (
        ReturnLine.objects.filter(case__requested_at__lt=as_of)
        .order_by()
        .values("order_line_id")
        .annotate(n=Sum("quantity"))
    )
    lines = OrderLine.objects.filter(
        order__shipped_at__gte=as_of - RECENT_SHIPMENTS,
        order__shipped_at__lt=as_of,
        order__ship_from_id__in=list(out),
    ).values_list("pk", "order__ship_from_id", "order__shipped_at", "quantity")[:ROW_LIMIT]
    lines = list(lines)
    already = dict(
        claimed.filter(order_line_id__in=[pk for pk, *_ in lines]).values_list("order_line_id", "n")
    )
    pmf = model.delay_pmf
    cumulative = [0.0]
    for share in pmf:
        cumulative.append(cumulative[-1] + share)
    today = as_of.date()
    for pk, warehouse, shipped, qty in lines:
        open_units = qty - already.get(pk, 0)
        rate = model.return_rate.get(warehouse, 0.0)
        if open_units <= 0 or not rate:
            continue
        age = (today - shipped.date()).days
        not_back_yet = max(1 - rate * cumulative[min(age, len(pmf))], 1e-9)
        for day in range(HORIZON_DAYS):
            delay = age + day
            if delay < len(pmf):
                out[warehouse][day] += open_units * rate * pmf[delay] / not_back_yet


def inbound_forecast(*, as_of: datetime | None = None, warehouse_id: int | None = None) -> Forecast:
    """Expected inbound return units per active warehouse per day for the 14 days starting on
    `as_of`'s day (see the module docstring for the model); about eight queries."""
    as_of = as_of or timezone.now()
    warehouses = Warehouse.objects.filter(is_active=True).order_by("name")
    if warehouse_id:
        warehouses = warehouses.filter(pk=warehouse_id)
    names = dict(warehouses.values_list("pk", "name"))
    model = forecast_model(as_of=as_of)
    pipeline = {pk: [0.0] * HORIZON_DAYS for pk in names}
    fresh = {pk: [0.0] * HORIZON_DAYS for pk in names}
    _pipeline(as_of, model, pipeline)
    _fresh(as_of, model, fresh)
    today = as_of.date()
    return Forecast(
        as_of=as_of,
        days=[today + timedelta(days=n) for n in range(HORIZON_DAYS)],
        warehouses=[
            WarehouseForecast(
                pk,
                name,
                [round(v, 2) for v in pipeline[pk]],
                [round(v, 2) for v in fresh[pk]],
            )
            for pk, name in names.items()
        ],
        model=model,
    )


@dataclass(frozen=True)
class Backtest:
    origin: datetime
    forecast_units: float
    actual_units: int
    mean_absolute_error: float


def forecast_backtest(*, as_of: datetime, warehouse_id: int | None = None) -> Backtest:
    """The forecast made 14 days before `as_of`, against the units actually received since:
    mean absolute error per warehouse-day, and both totals."""
    origin = as_of - timedelta(days=HORIZON_DAYS)
    forecast = inbound_forecast(as_of=origin, warehouse_id=warehouse_id)
    received = ReturnLine.objects.filter(
        case__received_at__gte=datetime.combine(origin.date(), datetime.min.time(), origin.tzinfo),
        case__received_at__lt=datetime.combine(
            forecast.days[-1] + timedelta(days=1), datetime.min.time(), origin.tzinfo
        ),
    ).values_list(
        "case__expected_warehouse_id",
        "order_line__order__ship_from_id",
        "case__received_at",
        "quantity",
    )
    actual = defaultdict(int)
    for expected, ship_from, arrived, qty in received:
        actual[(_warehouse_of(expected, ship_from), arrived.date())] += qty
    errors, predicted_total = [], 0.0
    for one in forecast.warehouses:
        for day, predicted in zip(forecast.days, one.total, strict=True):
            errors.append(abs(predicted - actual.get((one.warehouse_id, day), 0)))
            predicted_total += predicted
    return Backtest(
        origin=origin,
        forecast_units=round(predicted_total, 2),
        actual_units=sum(
            units
            for (w, _), units in actual.items()
            if any(w == one.warehouse_id for one in forecast.warehouses)
        ),
        mean_absolute_error=round(sum(errors) / len(errors), 3) if errors else 0.0,
    )
