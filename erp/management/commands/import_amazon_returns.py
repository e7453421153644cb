"""Import an Amazon returns report file (FBA customer returns or MFN returns) into the inbox."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from erp.services.amazon_reports import amazon_returns_report_import


class Command(BaseCommand):
    help = (
        "Record each row of GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA or the MFN returns "
        "report as an inbound event of the Amazon channel; rows already imported change nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The report file (tab-separated).")
        parser.add_argument("--channel", required=True, help="The Amazon channel's code.")

    def handle(self, *args, path: str, channel: str, **options):
        try:
            with open(path, "rb") as handle:
                body = handle.read()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        try:
            result = amazon_returns_report_import(
                body=body, account=channel, actor=None, filename=path.rsplit("/", 1)[-1]
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            f"{result.report.report_type}: {result.recorded} new row(s), "
            f"{result.duplicates} already imported, {len(result.errors)} row error(s)."
        )
        for error in result.errors:
            self.stdout.write(f"  row {error.row}, column {error.column}: {error.why}")
