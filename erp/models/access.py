"""Permissions for the role workspaces, which belong to no single table."""

from django.db import models


class Workspace(models.Model):
    """Holds the `access_*` permissions that open a role's screens.

    Django permissions hang off a content type; this table-less model gives the workspace
    permissions one, so groups can be granted them like any other permission.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("access_customer_service", "Can use the customer-service workspace"),
            ("access_warehouse", "Can use the warehouse workspace"),
            ("access_finance", "Can use the finance workspace"),
            ("access_operations", "Can use the operations workspace"),
        ]

    def __str__(self) -> str:
        return "Workspaces"
