"""Small helpers every warehouse service uses: permission checks, saving with who/why, and
finding a warehouse's location of a kind."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError

from erp.history import save_with_history
from erp.models import Location


def require_perm(actor: AbstractBaseUser | None, perm: str, what: str) -> None:
    if actor is None or not actor.has_perm(perm):
        raise PermissionDenied(f"You may not {what}.")


# Saving with who/why is the same everywhere; the warehouse services import it from here.
save = save_with_history


def location_of_kind(*, warehouse_id: int, kind: str) -> Location:
    """The warehouse's first active location of `kind` (by code)."""
    location = (
        Location.objects.filter(warehouse_id=warehouse_id, kind=kind, is_active=True)
        .select_related("warehouse")
        .order_by("code")
        .first()
    )
    if location is None:
        raise ValidationError(
            f"This warehouse has no active {Location.Kind(kind).label.lower()} location; "
            "an administrator adds one under Locations.",
            code="no_location",
        )
    return location


def locations_of_kinds(*, warehouse_id: int, kinds: list[str]) -> dict[str, Location]:
    """{kind: the warehouse's first active location of that kind (by code)}, in one query;
    refuses as `location_of_kind` does when a kind has none."""
    found: dict[str, Location] = {}
    for location in (
        Location.objects.filter(
            warehouse_id=warehouse_id,
            warehouse__is_active=True,
            kind__in=kinds,
            is_active=True,
        )
        .select_related("warehouse")
        .order_by("code")
    ):
        found.setdefault(location.kind, location)
    for kind in kinds:
        if kind not in found:
            raise ValidationError(
                f"This warehouse has no active {Location.Kind(kind).label.lower()} location; "
                "an administrator adds one under Locations.",
                code="no_location",
            )
    return found


def required_text(text: str, *, field: str, message: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({field: message})
    return text
