"""Identifiers that look like the real ones (GTINs, ASINs, serials, channel ids), all drawn from
the seeded random generator and unique where the data needs them unique."""

import random
from collections.abc import Callable
from datetime import date

DIGITS = "0123456789"
ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def gs1_check_digit(body: str) -> str:
    """The GS1 mod-10 check digit: weights 3, 1, 3, … from the rightmost digit of the body."""
    total = sum(int(digit) * (3 if i % 2 == 0 else 1) for i, digit in enumerate(body[::-1]))
    return str(-total % 10)


def random_code(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choices(alphabet, k=length))


def base36(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        chars.append(ALPHANUMERIC[digit])
    return "".join(reversed(chars))


class UniqueDraw:
    """Calls `make` until it returns a value not seen before.

    Random ids (ASINs, buyer ids) live in spaces so large that a repeat is rare, but a unique
    constraint must never fail on the one-in-a-million draw.
    """

    def __init__(self, make: Callable[[], str]) -> None:
        self._make = make
        self._seen: set[str] = set()

    def __call__(self) -> str:
        value = self._make()
        while value in self._seen:
            value = self._make()
        self._seen.add(value)
        return value


class SerialNumbers:
    """Serial numbers unique by construction, yet random-looking.

    A running counter goes through x -> (a*x + b) mod 36**6 with `a` coprime to 36, a bijection,
    so no two units share a serial and there is no set of issued serials to keep in memory
    (a 100k-order run ships hundreds of thousands of units).
    """

    SPACE = 36**6
    MULTIPLIER = 1_234_567  # odd and not a multiple of 3, so coprime with 36**6

    def __init__(self, rng: random.Random) -> None:
        self._offset = rng.randrange(self.SPACE)
        self._issued = 0

    def next(self, prefix: str, made: date) -> str:
        """`prefix` names the model; year and ISO week of manufacture follow, as on a label."""
        self._issued += 1
        if self._issued >= self.SPACE:
            raise OverflowError("serial number space exhausted")
        scrambled = (self._issued * self.MULTIPLIER + self._offset) % self.SPACE
        year, week, _ = made.isocalendar()
        return f"{prefix}{year % 100:02d}{week:02d}{base36(scrambled, 6)}"
