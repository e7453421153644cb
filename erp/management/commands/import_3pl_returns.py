"""Import a 3PL returns receipt and disposition report (CSV) into the inbox."""

from erp.management.report_import import ReportImportCommand
from erp.services.threepl_reports import threepl_returns_report_import


class Command(ReportImportCommand):
    help = (
        "Record each row of a 3PL returns report (docs/3pl_returns_report.md; CSV or "
        "tab-separated) as an inbound event of the 3PL warehouse; rows already imported "
        "change nothing."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--warehouse", required=True, help="The 3PL warehouse's code.")

    def report_import(self, *, body, filename, options):
        return threepl_returns_report_import(
            body=body, warehouse_code=options["warehouse"], actor=None, filename=filename
        )
