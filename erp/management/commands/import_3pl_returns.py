"""Import a 3PL returns receipt and disposition report (CSV) into the inbox."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from erp.services.threepl_reports import threepl_returns_report_import


class Command(BaseCommand):
    help = (
        "Record each row of a 3PL returns report (docs/3pl_returns_report.md) as an inbound "
        "event of the 3PL warehouse; rows already imported change nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The report file (CSV or tab-separated).")
        parser.add_argument("--warehouse", required=True, help="The 3PL warehouse's code.")

    def handle(self, *args, path: str, warehouse: str, **options):
        try:
            with open(path, "rb") as handle:
                body = handle.read()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        try:
            result = threepl_returns_report_import(
                body=body, warehouse_code=warehouse, actor=None, filename=path.rsplit("/", 1)[-1]
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            f"{result.report.report_type}: {result.recorded} new row(s), "
            f"{result.duplicates} already imported, {len(result.errors)} row error(s)."
        )
        for error in result.errors:
            self.stdout.write(f"  row {error.row}, column {error.column}: {error.why}")
