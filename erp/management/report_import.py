"""What every report-import command does: read the file, hand it to its import service, and
say what became of each row (the upload screens' counterpart, erp.views.report_imports)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class ReportImportCommand(BaseCommand):
    """Subclasses add their own options and `report_import(body, filename, options)`, which
    calls the import service and returns its result (`report`, `recorded`, `duplicates`,
    `errors`)."""

    def add_arguments(self, parser):
        parser.add_argument("path", help="The report file.")

    def report_import(self, *, body: bytes, filename: str, options: dict):
        raise NotImplementedError

    def handle(self, *args, path: str, **options):
        try:
            with open(path, "rb") as handle:
                body = handle.read()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        try:
            result = self.report_import(
                body=body, filename=path.rsplit("/", 1)[-1], options=options
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            f"{result.report.report_type}: {result.recorded} new row(s), "
            f"{result.duplicates} already imported, {len(result.errors)} row error(s)."
        )
        for error in result.errors:
            self.stdout.write(f"  row {error.row}, column {error.column}: {error.why}")
