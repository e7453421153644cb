"""Exceptions in the queue, built directly (tests of the services open them through
`exception_open`)."""

from datetime import timedelta

import factory
from django.utils import timezone

from erp.models import ExceptionCase, ExceptionNote
from erp.models.exceptions import KIND_DEFAULTS, ExceptionKind, SubjectType


class ExceptionCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExceptionCase

    kind = ExceptionKind.SKU_MISMATCH
    subject_type = SubjectType.RETURN_CASE
    subject_id = factory.Sequence(lambda n: str(9000 + n))
    subject_label = factory.LazyAttribute(lambda e: f"RMA-{e.subject_id}")
    summary = "Received SKU differs from the RMA"
    owner_role = factory.LazyAttribute(lambda e: KIND_DEFAULTS[ExceptionKind(e.kind)].owner_role)
    opened_at = factory.LazyFunction(timezone.now)
    sla_due_at = factory.LazyAttribute(
        lambda e: e.opened_at + timedelta(hours=KIND_DEFAULTS[ExceptionKind(e.kind)].sla_hours)
    )
    evidence = factory.LazyFunction(
        lambda: {"expected_sku": "TEE-NAVY-M", "scanned_sku": "TEE-NAVY-L"}
    )


class ExceptionNoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExceptionNote

    exception = factory.SubFactory(ExceptionCaseFactory)
    body = factory.Sequence(lambda n: f"Checked the shelf, note {n}.")
