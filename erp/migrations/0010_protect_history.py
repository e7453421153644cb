"""History rows are append-only in PostgreSQL: a trigger on every django-simple-history table
refuses UPDATE and DELETE (erp.security.history_protect). Tables that later migrations of any
app create are covered after each `migrate` by the post_migrate hook in erp.apps."""

from django.db import migrations


def protect(apps, schema_editor):
    from erp.security import history_protect

    history_protect(using=schema_editor.connection.alias)


def unprotect(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from erp.security import HISTORY_TRIGGER

    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s",
            [HISTORY_TRIGGER],
        )
        for (table,) in cursor.fetchall():
            quoted = schema_editor.connection.ops.quote_name(table)
            cursor.execute(f"DROP TRIGGER IF EXISTS {HISTORY_TRIGGER} ON {quoted}")
        cursor.execute("DROP FUNCTION IF EXISTS erp_history_append_only()")


class Migration(migrations.Migration):
    dependencies = [("erp", "0009_order_payment_reference")]

    operations = [migrations.RunPython(protect, unprotect, elidable=False)]
