"""Admin building blocks the apps share."""


class ReadOnlyAdminMixin:
    """For records that are never edited by hand (ledgers, journals, receipts): the admin shows
    them, and corrections go through the services that post reversing rows."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
