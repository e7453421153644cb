"""Seed the inspection checklists and disposition rules, and grant the warehouse permissions:
the warehouse group does the bench work; operations managers also release quarantine,
override dispositions and edit checklists and rules."""

from django.db import migrations

from erp.migration_grants import role_grants


def yes_no(key, label):
    return {"key": key, "label": label, "kind": "yes_no", "required": True}


CHECKLISTS = {
    "apparel": [
        yes_no("tags_attached", "Tags attached"),
        yes_no("worn_or_washed", "Worn or washed"),
        yes_no("stains", "Stains"),
        yes_no("odour", "Odour"),
    ],
    "electronics": [
        yes_no("powers_on", "Powers on"),
        yes_no("serial_matches", "Serial on the device matches the label"),
        yes_no("accessories_present", "All accessories present"),
        yes_no("factory_reset", "Factory reset done"),
        yes_no("screen_or_casing_damage", "Screen or casing damage"),
    ],
    "health_beauty": [
        yes_no("seal_intact", "Seal intact"),
        {"key": "expiry_date", "label": "Expiry date", "kind": "date", "required": True},
        {"key": "lot", "label": "Lot on the pack", "kind": "text", "required": True},
    ],
    "general": [
        yes_no("complete", "All parts present"),
        yes_no("damage", "Visible damage"),
    ],
}

# (name, priority, criteria, outcome): higher priority wins; blank criteria match anything.
RULES = [
    ("Unless a rule says otherwise, a person looks at it", -100, {}, "quarantine"),
    ("Grade A is as new: restock", 10, {"grade": "A"}, "restock"),
    ("Grade B apparel: restock", 10, {"grade": "B", "department": "apparel"}, "restock"),
    ("Grade B: refurbish", 5, {"grade": "B"}, "refurbish"),
    ("Grade C electronics: refurbish", 10, {"grade": "C", "department": "electronics"}, "refurbish"),
    ("Grade C: liquidate", 5, {"grade": "C"}, "liquidation"),
    ("Grade D: liquidate", 5, {"grade": "D"}, "liquidation"),
    ("Grade E: liquidate", 5, {"grade": "E"}, "liquidation"),
    (
        "Defective electronics go back to the vendor",
        15,
        {"grade": "E", "department": "electronics", "reason_group": "defect"},
        "vendor_return",
    ),
    ("Grade F: dispose", 20, {"grade": "F"}, "dispose"),
    (
        "Opened health & beauty cannot be resold",
        30,
        {"department": "health_beauty", "grade": "B"},
        "dispose",
    ),
    (
        "Marketplace apparel in grade B goes to the outlet liquidator",
        12,
        {"grade": "B", "department": "apparel", "channel_kind": "marketplace"},
        "liquidation",
    ),
]

BENCH = ["receive_parcel", "inspect_unit", "disposition_unit", "complete_putaway"]
VIEW = [
    "view_receipt",
    "view_returnunit",
    "view_inspection",
    "view_disposition",
    "view_putawaytask",
    "view_quarantinerecord",
    "view_checklisttemplate",
    "view_dispositionrule",
]
GRANTS = {
    "warehouse": [*BENCH, *VIEW],
    "customer_service": ["view_receipt", "view_returnunit", "view_inspection"],
    "finance": ["view_receipt", "view_returnunit", "view_inspection", "view_disposition"],
    "operations_manager": [
        *BENCH,
        *VIEW,
        "override_disposition",
        "release_quarantine",
        "change_checklist",
        "change_disposition_rules",
    ],
}


def seed(apps, schema_editor):
    ChecklistTemplate = apps.get_model("warehouse", "ChecklistTemplate")
    DispositionRule = apps.get_model("warehouse", "DispositionRule")
    for department, items in CHECKLISTS.items():
        ChecklistTemplate.objects.get_or_create(
            department=department, version=1, defaults={"items": items, "note": "Seeded"}
        )
    for name, priority, criteria, outcome in RULES:
        DispositionRule.objects.get_or_create(
            name=name, defaults={"priority": priority, "outcome": outcome, **criteria}
        )


def unseed(apps, schema_editor):
    apps.get_model("warehouse", "ChecklistTemplate").objects.filter(version=1).delete()
    apps.get_model("warehouse", "DispositionRule").objects.filter(
        name__in=[name for name, *_ in RULES]
    ).delete()


grant, revoke = role_grants("warehouse", GRANTS)


class Migration(migrations.Migration):
    dependencies = [("warehouse", "0001_initial")]

    operations = [
        migrations.RunPython(seed, unseed),
        migrations.RunPython(grant, revoke),
    ]
