"""The balances' references checked per statement, as the ledger's are since 0011.

The foreign key constraints of a balance row to its product and location checked each new row
at commit: for an import that opens 50,000 balance keys that was 100,000 look-ups, about as
long as all the rest after the ledger's COPY. They are replaced (PostgreSQL) by an AFTER INSERT
statement trigger that, for all the statement's new rows at once, locks the referenced rows
FOR KEY SHARE (as a foreign key check does) and raises foreign_key_violation if one is missing;
by a row trigger that checks a balance whose product or location is changed (services never
change a balance's key, so it fires on no write path); and by BEFORE DELETE / UPDATE OF id
row triggers on the product and location tables that refuse while a balance names the row
(through the balance key index and the location index). SQLite (the embedded demo) gets the
same rules as plain row triggers.
"""

import django.db.models.deletion
from django.db import migrations, models

# (referenced table, the balance column naming it)
REFERENCES = [("erp_product", "product_id"), ("erp_location", "location_id")]

REFERENCES_CHECK = """
CREATE OR REPLACE FUNCTION inventory_balance_references_check() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    v_missing text;
BEGIN
    WITH products AS (SELECT DISTINCT product_id AS id FROM new_rows),
    locations AS (SELECT DISTINCT location_id AS id FROM new_rows),
    p AS (SELECT t.id FROM erp_product t WHERE t.id IN (SELECT id FROM products)
           ORDER BY t.id FOR KEY SHARE),
    l AS (SELECT t.id FROM erp_location t WHERE t.id IN (SELECT id FROM locations)
           ORDER BY t.id FOR KEY SHARE)
    SELECT COALESCE(
        (SELECT 'product ' || id FROM products WHERE id NOT IN (SELECT id FROM p) LIMIT 1),
        (SELECT 'location ' || id FROM locations WHERE id NOT IN (SELECT id FROM l) LIMIT 1)
    ) INTO v_missing;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'inventory_stockbalance names %, which does not exist', v_missing
              USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER inventory_balance_references
AFTER INSERT ON inventory_stockbalance REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION inventory_balance_references_check();

CREATE OR REPLACE FUNCTION inventory_balance_rekeyed_check() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM 1 FROM erp_product WHERE id = NEW.product_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'inventory_stockbalance names product %, which does not exist',
              NEW.product_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    PERFORM 1 FROM erp_location WHERE id = NEW.location_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'inventory_stockbalance names location %, which does not exist',
              NEW.location_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER inventory_balance_rekeyed
BEFORE UPDATE OF product_id, location_id ON inventory_stockbalance
FOR EACH ROW WHEN (NEW.product_id <> OLD.product_id OR NEW.location_id <> OLD.location_id)
EXECUTE FUNCTION inventory_balance_rekeyed_check();

CREATE OR REPLACE FUNCTION inventory_balance_referenced_guard() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    v_named boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT FROM inventory_stockbalance WHERE %I = $1)',
                   TG_ARGV[0])
       INTO v_named USING OLD.id;
    IF v_named THEN
        RAISE EXCEPTION '% % is named by inventory_stockbalance.%: its balance keeps it',
              TG_TABLE_NAME, OLD.id, TG_ARGV[0]
              USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$fn$;
"""

REFERENCED_GUARD = """
CREATE TRIGGER inventory_balance_referenced
BEFORE DELETE OR UPDATE OF id ON {table}
FOR EACH ROW EXECUTE FUNCTION inventory_balance_referenced_guard('{column}');
"""

DROP = """
DROP TRIGGER IF EXISTS inventory_balance_references ON inventory_stockbalance;
DROP TRIGGER IF EXISTS inventory_balance_rekeyed ON inventory_stockbalance;
DROP TRIGGER IF EXISTS inventory_balance_referenced ON erp_product;
DROP TRIGGER IF EXISTS inventory_balance_referenced ON erp_location;
DROP FUNCTION IF EXISTS inventory_balance_references_check();
DROP FUNCTION IF EXISTS inventory_balance_rekeyed_check();
DROP FUNCTION IF EXISTS inventory_balance_referenced_guard();
"""

SQLITE_REFERENCES_CHECK = """
CREATE TRIGGER IF NOT EXISTS inventory_balance_references_{event}
BEFORE {event_sql} ON inventory_stockbalance
WHEN NOT EXISTS (SELECT 1 FROM erp_product WHERE id = NEW.product_id)
  OR NOT EXISTS (SELECT 1 FROM erp_location WHERE id = NEW.location_id)
BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: a balance names a missing row'); END
"""

SQLITE_REFERENCED_GUARD = """
CREATE TRIGGER IF NOT EXISTS {table}_{event}_named_by_balance
BEFORE {event_sql} ON {table}
WHEN {condition}
BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: a balance names this row'); END
"""


def references_by_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # params=None: the functions' own % placeholders are not query parameters.
        schema_editor.execute(REFERENCES_CHECK, params=None)
        for table, column in REFERENCES:
            schema_editor.execute(REFERENCED_GUARD.format(table=table, column=column))
    elif vendor == "sqlite":
        for event, event_sql in (
            ("insert", "INSERT"),
            ("update", "UPDATE OF product_id, location_id"),
        ):
            schema_editor.execute(SQLITE_REFERENCES_CHECK.format(event=event, event_sql=event_sql))
        for table, column in REFERENCES:
            named = f"EXISTS (SELECT 1 FROM inventory_stockbalance WHERE {column} = OLD.id)"
            for event, event_sql, condition in (
                ("delete", "DELETE", named),
                ("update", "UPDATE OF id", f"NEW.id <> OLD.id AND {named}"),
            ):
                schema_editor.execute(
                    SQLITE_REFERENCED_GUARD.format(
                        table=table, event=event, event_sql=event_sql, condition=condition
                    )
                )


def references_by_constraint(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(DROP)
    elif vendor == "sqlite":
        for event in ("insert", "update"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS inventory_balance_references_{event}")
        for table, _ in REFERENCES:
            for event in ("delete", "update"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_named_by_balance")


class Migration(migrations.Migration):
    dependencies = [
        ("erp", "0014_salesorder_shipped_at_rpt"),
        ("inventory", "0012_balance_fillfactor"),
    ]

    operations = [
        migrations.AlterField(
            model_name="stockbalance",
            name="location",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="erp.location",
            ),
        ),
        migrations.AlterField(
            model_name="stockbalance",
            name="product",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="stock_balances",
                to="erp.product",
            ),
        ),
        migrations.RunPython(references_by_trigger, references_by_constraint),
    ]
