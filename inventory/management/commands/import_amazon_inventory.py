"""Import an Amazon FBA inventory report file as a reconciliation snapshot."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from inventory.reconciliation.reports import amazon_inventory_import


class Command(BaseCommand):
    help = (
        "Import GET_AFN_INVENTORY_DATA, the MYI unsuppressed report or SP-API inventory "
        "summaries as an Amazon FBA snapshot. Importing the same file again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The report file (tab-separated, or JSON).")
        parser.add_argument(
            "--taken-at",
            help="When Amazon produced the report (ISO 8601); default: now.",
        )

    def handle(self, *args, path: str, taken_at: str | None = None, **options):
        moment = None
        if taken_at:
            moment = datetime.fromisoformat(taken_at)
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
        try:
            with open(path, "rb") as handle:
                body = handle.read()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        try:
            result = amazon_inventory_import(
                body=body, actor=None, taken_at=moment, filename=path.rsplit("/", 1)[-1]
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        verb = "Already imported" if result.already_imported else "Imported"
        self.stdout.write(
            f"{verb} {result.report.kind}: snapshot #{result.snapshot.pk}, "
            f"{result.imported} line(s), {len(result.errors)} row error(s)."
        )
        for error in result.errors:
            self.stdout.write(f"  row {error.row}, column {error.column}: {error.why}")
