"""Demo people: customers in every segment with their ids on the channels they bought from, and
one login per role."""

import random
import unicodedata
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group

from erp.models import Channel, Customer
from erp.roles import Role

from . import names
from .identifiers import ALPHANUMERIC, DIGITS, UniqueDraw, random_code

DEMO_PASSWORD = "demo-pass-2026"
DEMO_USERS = [
    ("cs", Role.CUSTOMER_SERVICE, "Casey", "Summers"),
    ("warehouse", Role.WAREHOUSE, "Wes", "Harlow"),
    ("finance", Role.FINANCE, "Fiona", "Ledger"),
    ("ops", Role.OPERATIONS_MANAGER, "Omar", "Pryce"),
    ("admin", Role.ADMINISTRATOR, "Ada", "Minter"),
]

# Percent of customers per segment, and how many more orders than a standard customer each
# places: VIPs and wholesale accounts buy often, watchlisted ones somewhat more (and return more).
SEGMENTS = [
    (Customer.Segment.STANDARD, 80, 1.0),
    (Customer.Segment.VIP, 9, 3.0),
    (Customer.Segment.WHOLESALE, 4, 2.5),
    (Customer.Segment.WATCHLIST, 7, 1.5),
]

# Percent of customers whose usual channel each one is.
HOME_CHANNEL_SHARE = {"harbor-store": 45, "amazon-us": 40, "euromarket-eu": 15}


@dataclass(slots=True)
class PlannedCustomer:
    email: str
    name: str
    segment: str
    home_channel: int  # index into the channel list
    activity: float  # relative number of orders


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: Role
    created: bool  # False: the user existed, so its password was left alone


def customers_plan(
    *, rng: random.Random, count: int, channels: list[Channel]
) -> list[PlannedCustomer]:
    """`count` customers: segments in the SEGMENTS mix, names that fit their home channel."""
    segments = [segment for segment, _, _ in SEGMENTS]
    segment_weights = [share for _, share, _ in SEGMENTS]
    activity = {segment: factor for segment, _, factor in SEGMENTS}
    channel_weights = [HOME_CHANNEL_SHARE[channel.code] for channel in channels]
    storefront = next(i for i, c in enumerate(channels) if c.kind == Channel.Kind.STOREFRONT)
    emails = _EmailBook(rng)

    customers = []
    for _ in range(count):
        segment = rng.choices(segments, segment_weights)[0]
        if segment == Customer.Segment.WHOLESALE:
            # Wholesale accounts are businesses ordering through the storefront's B2B portal.
            home = storefront
            family = rng.choice(names.US_FAMILY)
            name = f"{family} {rng.choice(names.BUSINESS_SUFFIXES)}"
            email = emails.business(name)
        else:
            home = rng.choices(range(len(channels)), channel_weights)[0]
            european = channels[home].region == "EU"
            given = rng.choice(names.EU_GIVEN if european else names.US_GIVEN)
            family = rng.choice(names.EU_FAMILY if european else names.US_FAMILY)
            name = f"{given} {family}"
            email = emails.person(given, family)
        customers.append(PlannedCustomer(email, name, segment, home, activity[segment]))
    return customers


def accounts_plan(
    *, rng: random.Random, channels: list[Channel], ordered_on: list[set[int]]
) -> list[tuple[int, int, str]]:
    """(customer index, channel index, external id) for every channel a customer ordered on.

    `ordered_on[i]` is the set of channel indexes customer i placed orders on.
    """
    draws = [UniqueDraw(_external_id_maker(channel, rng)) for channel in channels]
    return [
        (customer, channel, draws[channel]())
        for customer, used in enumerate(ordered_on)
        for channel in sorted(used)  # sorted: set order must not decide which id is drawn
    ]


def demo_users_ensure() -> list[DemoLogin]:
    """Effects: creates each missing demo user with the demo password (`admin` as staff and
    superuser) and adds every demo user to its role's group. A user that already exists keeps
    its password: the demo password must never overwrite a real one."""
    user_model = get_user_model()
    groups = {group.name: group for group in Group.objects.filter(name__in=list(Role))}
    # One hash for all five: PBKDF2 is deliberately slow, and the password is public anyway.
    password = make_password(DEMO_PASSWORD)
    logins = []
    for username, role, first_name, last_name in DEMO_USERS:
        admin = role == Role.ADMINISTRATOR
        user, created = user_model.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first_name,
                "last_name": last_name,
                "email": f"{username}@harbor-goods.example",
                "password": password,
                "is_staff": admin,
                "is_superuser": admin,
            },
        )
        user.groups.add(groups[role.value])
        logins.append(DemoLogin(username=username, role=role, created=created))
    return logins


def _external_id_maker(channel: Channel, rng: random.Random):
    """The shape of a customer id on the channel's platform."""
    if channel.platform == Channel.Platform.SHOPIFY:
        return lambda: "7" + random_code(rng, DIGITS, 12)
    if channel.platform == Channel.Platform.AMAZON:
        return lambda: "A" + random_code(rng, ALPHANUMERIC, 13)
    return lambda: "EM" + random_code(rng, DIGITS, 9)


class _EmailBook:
    """Unique, plausible e-mail addresses: a numeric suffix only when the plain one is taken."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._taken: set[str] = set()

    def person(self, given: str, family: str) -> str:
        given, family = _ascii(given), _ascii(family)
        local = self._rng.choice(
            [f"{given}.{family}", f"{given}{family}", f"{given[0]}.{family}", f"{given}_{family}"]
        )
        return self._claim(local, f"@{self._rng.choice(names.EMAIL_DOMAINS)}")

    def business(self, name: str) -> str:
        slug = "-".join(filter(None, (_ascii(word) for word in name.split())))
        return self._claim(f"orders@{slug}", ".example")

    def _claim(self, stem: str, tail: str) -> str:
        email = stem + tail
        suffix = self._rng.randint(1, 90)
        while email in self._taken:
            email = f"{stem}{suffix}{tail}"
            suffix += 1
        self._taken.add(email)
        return email


def _ascii(word: str) -> str:
    """`Müller` -> `muller`: e-mail local parts stay plain ASCII."""
    plain = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())
