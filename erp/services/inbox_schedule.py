"""The order a batch of inbound events applies in: grouped by (source, topic), so that each
topic's preparer reads once for all its events of the batch, while every two events that can
change each other's effect still apply in arrival order.

Which events can change each other's effect is what each topic's handlers key on, declared
next to the handler as a footprint: for each event, the keys of what it reads and writes. Two
events conflict when their footprints share a key. A topic that declares no footprint is a
barrier: it conflicts with every event, so nothing moves across it (order imports, returns
decisions, labels, 3PL and Amazon returns rows: their effects reach cases by ways the payload
does not show). The keys the handlers use (see their `*_footprint` functions):

- ("case", case id): carrier reports, for each case their tracking number names (on the case
  or on a label), read at the start of the batch. A label that adds a case to a number comes
  from a barrier topic, so a report after it is after it here too.
- ("tracking", number): carrier reports of one parcel from different feeds.
- ("order", channel, order number) and ("return", channel, return id): Shopify returns/request
  (opens the order's case and links the return) and refunds/create (finds the case by its
  return, else the order's newest live case).
- ("customer", customer id): returns/request, for the customer of its order, read at the
  start of the batch: its risk screening counts the customer's other cases, which only other
  requests and barrier topics open or void.
- ("snapshots", source): 3PL stock feeds of one source (its reports and heads).

Carrier reports, refunds and requests about different cases and orders commute, and so do 3PL
snapshots with all of them: they touch disjoint rows (a refund only records on a case; a
carrier report neither opens nor voids a case, so no request's risk screening or refund's
choice of case sees it).

Rows two workers' batches both need (a parcel's report and its resend a few minutes later, in
consecutive batches) are locked up front, without waiting, for the key kinds a higher app
registers a locker for (("case", id): the carriers' cases). An event whose rows another worker
holds applies last, with every later event that conflicts with it, by the same rule as the
levels below: by then that worker has usually committed, and the batch did its other events
instead of waiting for it at the first of them.

The schedule: each event gets a level, the lowest at which it applies after every earlier
event it conflicts with — the same level as an earlier one of its own topic (a run applies in
arrival order), the next level after one of another topic. Levels apply in turn; within a
level, the runs of different topics touch nothing in common, and apply in (source, topic)
order, so two workers' batches meet the rows they share in the same order.
"""

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from itertools import groupby

from erp.models import InboundEvent

Topic = tuple[str, str]
# footprint([(event, message), …]) → for each pair, the keys of what its handler reads and
# writes; it may read the database (once for the batch), and must not write.
Footprint = Callable[[list[tuple[InboundEvent, object]]], list[Iterable[Hashable]]]
_footprints: dict[Topic, Footprint] = {}


def inbox_batch_footprint_register(*, source: str, topic: str, footprint: Footprint) -> None:
    """Effects: none on the database; in a batch, (`source`, `topic`) events move past the
    events whose footprints share no key with theirs (they are barriers until registered)."""
    _footprints[(source, topic)] = footprint


# locker(values) → the values whose rows another transaction holds now; it locks the others
# (in a fixed order, skipping held rows: it never waits).
Locker = Callable[[set], set]
_lockers: dict[str, Locker] = {}


def inbox_batch_locker_register(*, kind: str, locker: Locker) -> None:
    """Effects: none on the database; a batch locks the rows of its events' (`kind`, value)
    footprint keys as it starts, with `locker`, and applies last the events whose rows another
    worker holds."""
    _lockers[kind] = locker


def held_elsewhere(keys: dict[int, frozenset | None]) -> set[Hashable]:
    """Lock, without waiting, the rows of the footprint keys that have a locker; returns the
    keys whose rows another transaction holds. One statement per kind with a locker."""
    values: dict[str, set] = defaultdict(set)
    for touched in keys.values():
        for key in touched or ():
            if key[0] in _lockers:
                values[key[0]].add(key[1])
    held: set[Hashable] = set()
    for kind in sorted(values):
        held |= {(kind, value) for value in _lockers[kind](values[kind])}
    return held


def held_last(
    events: list[InboundEvent], keys: dict[int, frozenset | None], held: set[Hashable]
) -> tuple[list[InboundEvent], list[InboundEvent]]:
    """`events` (in arrival order) split into those that apply now and those that wait for the
    end of the batch: the events touching a `held` key, and every later event that conflicts
    with one that waits (shares a key with it, or either is a barrier). Each part keeps
    arrival order, so every two conflicting events still apply in arrival order."""
    if not held:
        return events, []
    now: list[InboundEvent] = []
    last: list[InboundEvent] = []
    waiting: set[Hashable] = set(held)
    barrier = False  # a barrier waits: so does every event after it
    for event in events:
        touched = keys.get(event.pk)
        if barrier or (last if touched is None else touched & waiting):
            last.append(event)
            if touched is None:
                barrier = True
            else:
                waiting |= touched
        else:
            now.append(event)
    return now, last


def footprints_read(
    events: list[InboundEvent], parsed: dict[int, object]
) -> dict[int, frozenset | None]:
    """{event id: its keys, or None for a barrier}. An event with no parsed message parks
    without touching anything: no keys."""
    keys: dict[int, frozenset | None] = {}
    pairs: dict[Topic, list[tuple[InboundEvent, object]]] = {}
    for event in events:
        topic = (event.source, event.topic)
        if event.pk not in parsed:
            keys[event.pk] = frozenset()
        elif topic not in _footprints:
            keys[event.pk] = None
        else:
            pairs.setdefault(topic, []).append((event, parsed[event.pk]))
    for topic, of_topic in pairs.items():
        for (event, _), touched in zip(of_topic, _footprints[topic](of_topic), strict=True):
            keys[event.pk] = frozenset(touched)
    return keys


def runs_in_order(
    events: list[InboundEvent], keys: dict[int, frozenset | None]
) -> list[list[InboundEvent]]:
    """`events` (in arrival order) as runs of one (source, topic), in the order they apply."""
    every: dict[Topic, int] = {}  # topic → highest level of its events so far
    barriers: dict[Topic, int] = {}  # the same, for barrier events
    by_key: dict[Hashable, dict[Topic, int]] = {}  # key → topic → highest level touching it

    def after(levels: dict[Topic, int], topic: Topic) -> int:
        return max((level + (other != topic) for other, level in levels.items()), default=0)

    placed = []
    for event in events:
        topic = (event.source, event.topic)
        touched = keys.get(event.pk)
        if touched is None:
            level = after(every, topic)
            barriers[topic] = max(barriers.get(topic, 0), level)
        else:
            level = max(
                [after(barriers, topic), *(after(by_key.get(k, {}), topic) for k in touched)]
            )
            for key in touched:
                seen = by_key.setdefault(key, {})
                seen[topic] = max(seen.get(topic, 0), level)
        every[topic] = max(every.get(topic, 0), level)
        placed.append((level, topic, event))
    # sorted() is stable: a run keeps its events in arrival order.
    placed.sort(key=lambda p: (p[0], p[1]))
    return [[event for *_, event in run] for _, run in groupby(placed, key=lambda p: (p[0], p[1]))]
