"""Grants the returns permissions to the role groups and publishes a first return policy.

Both are frozen here, as migrations must be. The policy is a sensible default an operations
manager replaces by drafting and publishing a new version (never by editing this one).
"""

from decimal import Decimal

from django.contrib.auth.management import create_permissions
from django.db import migrations

CS_WORK = [
    "view_policyruleset",
    "view_policyrule",
    "view_returncase",
    "add_returncase",
    "view_returnline",
    "authorize_return",
    "reject_return",
    "cancel_return",
    "record_return_shipment",
]
WAREHOUSE_WORK = ["view_returncase", "view_returnline", "receive_return", "inspect_return"]
POLICY_WORK = [
    "add_policyruleset",
    "change_policyruleset",
    "add_policyrule",
    "change_policyrule",
    "delete_policyrule",
    "publish_return_policy",
]
ROLE_PERMISSIONS = {
    "customer_service": CS_WORK,
    "warehouse": WAREHOUSE_WORK,
    "finance": ["view_returncase", "view_returnline"],
    "operations_manager": sorted(
        {*CS_WORK, *WAREHOUSE_WORK, *POLICY_WORK, "close_return"}
    ),
}

# (name, priority, criteria, outcome). Reason codes are the canonical ones of erp 0003.
STANDARD = {
    "return_window_days": 30,
    "decision": "auto_authorize",
    "refund_trigger": "on_inspection",
    "restocking_fee_percent": Decimal("0"),
    "return_shipping_paid_by": "merchant",
}
DEFAULT_RULES = [
    ("Standard: 30 days, authorized automatically", 0, {}, STANDARD),
    (
        "Electronics: 15 days, 15 % restocking fee, customer pays shipping",
        10,
        {"department": "electronics"},
        {
            **STANDARD,
            "return_window_days": 15,
            "restocking_fee_percent": Decimal("15"),
            "return_shipping_paid_by": "customer",
        },
    ),
    (
        "Health & beauty: 14 days, refund or credit only",
        10,
        {"department": "health_beauty"},
        {**STANDARD, "return_window_days": 14, "offers_exchange": False},
    ),
    (
        "VIP: 60 days, refund on receipt",
        15,
        {"customer_segment": "vip"},
        {**STANDARD, "return_window_days": 60, "refund_trigger": "on_receipt"},
    ),
    (
        "Wrong item sent: 60 days, refund on receipt",
        20,
        {"reason": "WRONG_ITEM_SENT"},
        {**STANDARD, "return_window_days": 60, "refund_trigger": "on_receipt"},
    ),
    (
        "High-value items (1,000 or more): manual review",
        30,
        {"min_item_value": Decimal("1000")},
        {**STANDARD, "decision": "manual_review"},
    ),
    (
        "Defective in warranty: repair or replace, reviewed",
        40,
        {"warranty_status": "in_warranty", "reason": "DEFECTIVE_OR_DAMAGED"},
        {**STANDARD, "return_window_days": 730, "decision": "manual_review"},
    ),
    (
        "Wholesale orders: returned under the trade agreement",
        50,
        {"customer_segment": "wholesale"},
        {
            **STANDARD,
            "decision": "deny",
            "ineligible_reason": "Wholesale orders are returned under the trade agreement, "
            "not through customer service: refer the customer to their account manager.",
        },
    ),
]


def grant_and_publish(apps, schema_editor):
    returns = apps.get_app_config("returns")
    returns.models_module = True
    create_permissions(returns, apps=apps, verbosity=0)
    returns.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label="returns")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        granted = ours.filter(codename__in=codenames)
        if granted.count() != len(set(codenames)):
            missing = set(codenames) - set(granted.values_list("codename", flat=True))
            raise RuntimeError(f"Unknown permissions for {role}: {sorted(missing)}")
        group.permissions.add(*granted)
    administrator, _ = Group.objects.get_or_create(name="administrator")
    administrator.permissions.add(*ours)

    from django.utils import timezone

    RuleSet = apps.get_model("returns", "PolicyRuleSet")
    Rule = apps.get_model("returns", "PolicyRule")
    ReasonCode = apps.get_model("erp", "ReasonCode")
    if RuleSet.objects.exists():
        return
    rule_set = RuleSet.objects.create(
        version=1,
        name="Default returns policy",
        notes="Installed with the returns app.",
        state="published",
        published_at=timezone.now(),
    )
    for name, priority, criteria, outcome in DEFAULT_RULES:
        criteria = dict(criteria)
        if "reason" in criteria:
            criteria["reason_code"] = ReasonCode.objects.get(code=criteria.pop("reason"))
        Rule.objects.create(
            rule_set=rule_set, name=name, priority=priority, **criteria, **outcome
        )


def revoke_and_remove(apps, schema_editor):
    apps.get_model("returns", "PolicyRuleSet").objects.filter(version=1).delete()
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(
        name__in=[*ROLE_PERMISSIONS, "administrator"]
    ):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="returns"))


class Migration(migrations.Migration):
    dependencies = [
        ("returns", "0001_initial"),
        ("erp", "0003_canonical_reason_codes"),
    ]

    operations = [migrations.RunPython(grant_and_publish, revoke_and_remove)]
