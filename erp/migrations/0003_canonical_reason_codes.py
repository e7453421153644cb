"""Loads the canonical return reasons every channel's raw codes map onto."""

from django.db import migrations

CANONICAL_REASONS = [
    ("SIZE_TOO_SMALL", "Size too small", "size"),
    ("SIZE_TOO_LARGE", "Size too large", "size"),
    ("STYLE_OR_COLOR", "Style or colour not as hoped", "preference"),
    ("CHANGED_MIND", "Changed their mind", "preference"),
    ("ORDERED_BY_MISTAKE", "Ordered by mistake", "preference"),
    ("DEFECTIVE_OR_DAMAGED", "Defective or damaged", "defect"),
    ("MISSING_PARTS", "Missing parts or accessories", "defect"),
    ("NOT_AS_DESCRIBED", "Not as described", "not_as_described"),
    ("WRONG_ITEM_SENT", "Wrong item sent", "fulfilment_error"),
    ("DAMAGED_IN_TRANSIT", "Damaged in transit", "logistics"),
    ("LATE_DELIVERY", "Arrived late or never", "logistics"),
    ("UNDELIVERABLE", "Undeliverable, returned to sender", "logistics"),
    ("UNAUTHORIZED", "Unauthorized purchase", "fraud"),
    ("OTHER", "Other", "other"),
    ("UNKNOWN", "Unknown", "other"),
]


def load(apps, schema_editor):
    ReasonCode = apps.get_model("erp", "ReasonCode")
    for code, label, group in CANONICAL_REASONS:
        ReasonCode.objects.update_or_create(code=code, defaults={"label": label, "group": group})


def unload(apps, schema_editor):
    apps.get_model("erp", "ReasonCode").objects.filter(
        code__in=[code for code, _, _ in CANONICAL_REASONS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("erp", "0002_role_groups")]

    operations = [migrations.RunPython(load, unload)]
