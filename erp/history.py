"""Saving a change with who made it and why, for django-simple-history.

The history table keeps the reason in a 100-character column. A longer reason (a channel's
decline note, an override's explanation) is clipped there with an ellipsis; the full text
stays on the record itself (`outcome_reason`, `override_reason`, a note).
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import models

REASON_LENGTH = 100


def history_reason(why: str) -> str:
    return why if len(why) <= REASON_LENGTH else why[: REASON_LENGTH - 1] + "…"


def save_with_history(obj: models.Model, *, actor: AbstractBaseUser | None, why: str) -> None:
    obj._history_user = actor
    obj._change_reason = history_reason(why)
    obj.save()
