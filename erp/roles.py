"""The roles people work in. Each is a Django group; its permissions are granted by migrations."""

from django.db import models


class Role(models.TextChoices):
    CUSTOMER_SERVICE = "customer_service", "Customer service"
    WAREHOUSE = "warehouse", "Warehouse"
    FINANCE = "finance", "Finance"
    OPERATIONS_MANAGER = "operations_manager", "Operations manager"
    ADMINISTRATOR = "administrator", "Administrator"


def roles_of(user) -> list[Role]:
    """The user's roles in the order above; the first decides their home page."""
    if not user.is_authenticated:
        return []
    # The request's user comes with its group names (erp.auth_backends); others are read.
    names = getattr(user, "group_names", None)
    if names is None:
        names = {group.name for group in user.groups.all()}
    return [role for role in Role if role.value in names]
