"""Import an Amazon returns report file (FBA customer returns or MFN returns) into the inbox."""

from erp.management.report_import import ReportImportCommand
from erp.services.amazon_reports import amazon_returns_report_import


class Command(ReportImportCommand):
    help = (
        "Record each row of GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA or the MFN returns "
        "report (tab-separated) as an inbound event of the Amazon channel; rows already "
        "imported change nothing."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--channel", required=True, help="The Amazon channel's code.")

    def report_import(self, *, body, filename, options):
        return amazon_returns_report_import(
            body=body, account=options["channel"], actor=None, filename=filename
        )
