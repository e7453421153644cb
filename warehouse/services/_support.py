"""Small helpers every warehouse service uses: permission checks, saving with who/why, and
finding a warehouse's location of a kind."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models

from erp.models import Location


def require_perm(actor: AbstractBaseUser | None, perm: str, what: str) -> None:
    if actor is None or not actor.has_perm(perm):
        raise PermissionDenied(f"You may not {what}.")


# simple_history keeps the reason in a 100-character column; the full text (an override's
# reason, a release's) is on the record itself.
REASON_LENGTH = 100


def save(obj: models.Model, *, actor: AbstractBaseUser | None, why: str) -> None:
    obj._history_user = actor
    obj._change_reason = why if len(why) <= REASON_LENGTH else why[: REASON_LENGTH - 1] + "…"
    obj.save()


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


def required_text(text: str, *, field: str, message: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({field: message})
    return text
