"""What a dashboard shows, as plain data: tables (exportable), charts and headline figures."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    """A value shown in a table; `href` drills down to the records behind it."""

    value: object
    href: str = ""
    text: str = ""

    def __str__(self) -> str:
        return self.text or ("—" if self.value is None else str(self.value))


@dataclass(frozen=True)
class Column:
    label: str
    numeric: bool = False


@dataclass
class Table:
    slug: str
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    note: str = ""
    empty: str = "Nothing in this window."

    @property
    def cells(self) -> list[list[tuple[Cell, bool]]]:
        """Each row's cells with whether their column is numeric (right-aligned)."""
        numeric = [column.numeric for column in self.columns]
        return [list(zip(row, numeric, strict=True)) for row in self.rows]


# A colour-blind-safe palette (Okabe-Ito), in the order series are drawn.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


@dataclass
class Chart:
    slug: str
    title: str
    labels: list[str]
    datasets: list[dict]
    kind: str = "bar"
    note: str = ""
    description: str = ""
    empty: str = "Nothing to chart in this window."

    @property
    def data_id(self) -> str:
        return f"{self.slug}-data"

    def data(self) -> dict:
        return {
            "labels": self.labels,
            "datasets": [
                {**dataset, "colour": dataset.get("colour") or PALETTE[n % len(PALETTE)]}
                for n, dataset in enumerate(self.datasets)
            ],
        }


@dataclass(frozen=True)
class Stat:
    label: str
    value: str
    href: str = ""
    tone: str = ""
    hint: str = ""
