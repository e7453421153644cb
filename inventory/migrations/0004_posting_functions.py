"""PostgreSQL functions that post a quantity movement, and recompute ATS, in one round trip.

`inventory.services` calls them on PostgreSQL only; they hold the same rules as its Python
path (which SQLite uses, and which PostgreSQL falls back to whenever a post is refused or
replayed, so error messages come from one place). Each round trip costs 0.3-1 ms on the
development VM, and a move used to take twelve.

`inventory_availability_recompute(products, never_sellable, now)`: locks the (SKU, active
channel) availability rows in (product, channel) order, creating missing ones; recomputes
ATS = stock in the states the channel's rule sells (minus `never_sellable`), in its
warehouses, minus safety stock, floored at 0; bumps `version` of the rows whose ATS changed
and returns them (the caller queues their outbox messages through the ORM, so the outbox
table stays the erp app's own).

`inventory_post_quantity(...)`: the whole post of one movement of a SKU without serials:
key lock and replay check, SKU and lot tracking, locations, balance locks in key order and the
non-negative check, the movement, both balances, ATS. Returns a row with the movement id, then
one per changed availability row; no row, without writing anything, when the request is a
replay or must be refused (the caller then takes the Python path, which replays or raises the
specific error).
"""

from django.db import migrations

AVAILABILITY_RECOMPUTE = """
CREATE OR REPLACE FUNCTION inventory_availability_recompute(
    p_products bigint[], p_never_sellable text[], p_now timestamptz
) RETURNS TABLE (
    id bigint, product_id bigint, channel_id bigint, ats integer, version bigint,
    safety_stock integer
) LANGUAGE plpgsql
-- Generic plans: planning these statements afresh at each call cost more than running them.
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
DECLARE
    v_products bigint[];
    v_channels bigint[];
    v_locked integer;
BEGIN
    SELECT array_agg(DISTINCT p ORDER BY p) INTO v_products FROM unnest(p_products) AS p;
    SELECT array_agg(c.id ORDER BY c.id) INTO v_channels FROM erp_channel c WHERE c.is_active;
    IF v_products IS NULL OR v_channels IS NULL THEN
        RETURN;
    END IF;
    PERFORM 1 FROM inventory_channelavailability a
     WHERE a.product_id = ANY(v_products) AND a.channel_id = ANY(v_channels)
     ORDER BY a.product_id, a.channel_id FOR UPDATE;
    GET DIAGNOSTICS v_locked = ROW_COUNT;
    IF v_locked < cardinality(v_products) * cardinality(v_channels) THEN
        INSERT INTO inventory_channelavailability
               (product_id, channel_id, ats, version, last_pushed_version, updated_at)
        SELECT p, c, 0, 0, 0, p_now FROM unnest(v_products) AS p CROSS JOIN unnest(v_channels) AS c
         ORDER BY p, c
            ON CONFLICT (product_id, channel_id) DO NOTHING;
        PERFORM 1 FROM inventory_channelavailability a
         WHERE a.product_id = ANY(v_products) AND a.channel_id = ANY(v_channels)
         ORDER BY a.product_id, a.channel_id FOR UPDATE;
    END IF;
    RETURN QUERY
    WITH rules AS (
        SELECT c.id AS channel_id,
               ARRAY(SELECT s FROM jsonb_array_elements_text(
                         COALESCE(r.sellable_states, '["available"]'::jsonb)) AS s
                      WHERE s <> ALL(p_never_sellable)) AS states,
               (SELECT array_agg(w.warehouse_id) FROM inventory_channelrule_warehouses w
                 WHERE w.channelrule_id = r.id) AS warehouses
          FROM erp_channel c LEFT JOIN inventory_channelrule r ON r.channel_id = c.id
         WHERE c.id = ANY(v_channels)
    ), on_hand AS MATERIALIZED (
        SELECT b.product_id, l.warehouse_id, b.state, sum(b.qty) AS qty
          FROM inventory_stockbalance b JOIN erp_location l ON l.id = b.location_id
         WHERE b.product_id = ANY(v_products) AND b.qty > 0
         GROUP BY b.product_id, l.warehouse_id, b.state
    ), fresh AS (
        SELECT a.id, a.ats AS old_ats, COALESCE(s.qty, 0) AS safety,
               GREATEST(0, COALESCE(sum(o.qty), 0) - COALESCE(s.qty, 0))::integer AS new_ats
          FROM inventory_channelavailability a
          JOIN rules r ON r.channel_id = a.channel_id
          LEFT JOIN inventory_safetystock s
                 ON s.channel_id = a.channel_id AND s.product_id = a.product_id
          LEFT JOIN on_hand o
                 ON o.product_id = a.product_id AND o.state = ANY(r.states)
                AND (r.warehouses IS NULL OR o.warehouse_id = ANY(r.warehouses))
         WHERE a.product_id = ANY(v_products) AND a.channel_id = ANY(v_channels)
         GROUP BY a.id, a.ats, s.qty
    ), changed AS (
        UPDATE inventory_channelavailability a
           SET ats = f.new_ats, version = a.version + 1, updated_at = p_now
          FROM fresh f
         WHERE a.id = f.id AND f.new_ats <> f.old_ats
        RETURNING a.id, a.product_id, a.channel_id, a.ats, a.version, f.safety
    )
    SELECT ch.id, ch.product_id, ch.channel_id, ch.ats, ch.version, ch.safety::integer
      FROM changed ch ORDER BY ch.product_id, ch.channel_id;
END
$fn$;
"""

POST_QUANTITY = """
CREATE OR REPLACE FUNCTION inventory_post_quantity(
    p_key_lock bigint, p_key text, p_hash text, p_product bigint, p_qty integer, p_lot text,
    p_from_location bigint, p_from_state text, p_to_location bigint, p_to_state text,
    p_kind text, p_cause_type text, p_cause_id text, p_actor bigint,
    p_occurred_at timestamptz, p_now timestamptz, p_reason text, p_never_sellable text[]
) RETURNS TABLE (
    movement_id bigint, id bigint, product_id bigint, channel_id bigint, ats integer,
    version bigint, safety_stock integer
) LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $fn$
#variable_conflict use_column
DECLARE
    v_tracking text;
    v_row record;
    v_from_id bigint;
    v_from_qty bigint := 0;
    v_to_id bigint;
    v_movement bigint;
BEGIN
    -- Same order of locks as the Python path: key, balances (key order), availability.
    PERFORM pg_advisory_xact_lock(p_key_lock);
    PERFORM 1 FROM inventory_stockmovement WHERE idempotency_key = p_key;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT tracking INTO v_tracking FROM erp_product WHERE id = p_product;
    IF v_tracking IS NULL OR v_tracking = 'serial' OR (v_tracking = 'lot') <> (p_lot <> '') THEN
        RETURN;
    END IF;
    IF p_from_location IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM erp_location WHERE id = p_from_location) THEN
        RETURN;
    END IF;
    IF p_to_location IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM erp_location WHERE id = p_to_location AND is_active) THEN
        RETURN;
    END IF;
    FOR v_row IN
        SELECT b.id, b.location_id, b.state, b.qty FROM inventory_stockbalance b
         WHERE b.product_id = p_product AND b.lot = p_lot
           AND ((b.location_id = p_from_location AND b.state = p_from_state)
                OR (b.location_id = p_to_location AND b.state = p_to_state))
         ORDER BY b.product_id, b.location_id, b.state, b.lot FOR UPDATE
    LOOP
        IF v_row.location_id = p_from_location AND v_row.state = p_from_state THEN
            v_from_id := v_row.id;
            v_from_qty := v_row.qty;
        ELSE
            v_to_id := v_row.id;
        END IF;
    END LOOP;
    IF p_from_location IS NOT NULL AND v_from_qty < p_qty THEN
        RETURN;
    END IF;
    INSERT INTO inventory_stockmovement
           (product_id, qty, lot, from_location_id, from_state, to_location_id, to_state, kind,
            cause_type, cause_id, actor_id, occurred_at, posted_at, idempotency_key,
            payload_hash, reason)
    VALUES (p_product, p_qty, p_lot, p_from_location, p_from_state, p_to_location, p_to_state,
            p_kind, p_cause_type, p_cause_id, p_actor, p_occurred_at, p_now, p_key, p_hash,
            p_reason)
    RETURNING id INTO v_movement;
    IF v_from_id IS NOT NULL THEN
        UPDATE inventory_stockbalance SET qty = qty - p_qty WHERE id = v_from_id;
    END IF;
    IF v_to_id IS NOT NULL THEN
        UPDATE inventory_stockbalance SET qty = qty + p_qty WHERE id = v_to_id;
    ELSIF p_to_location IS NOT NULL THEN
        INSERT INTO inventory_stockbalance (product_id, location_id, state, lot, qty)
        VALUES (p_product, p_to_location, p_to_state, p_lot, p_qty)
            ON CONFLICT (product_id, location_id, state, lot)
            DO UPDATE SET qty = inventory_stockbalance.qty + EXCLUDED.qty;
    END IF;
    movement_id := v_movement;
    RETURN NEXT;
    RETURN QUERY SELECT v_movement, a.*
      FROM inventory_availability_recompute(ARRAY[p_product], p_never_sellable, p_now) AS a;
END
$fn$;
"""

DROP = """
DROP FUNCTION IF EXISTS inventory_post_quantity(
    bigint, text, text, bigint, integer, text, bigint, text, bigint, text, text, text, text,
    bigint, timestamptz, timestamptz, text, text[]);
DROP FUNCTION IF EXISTS inventory_availability_recompute(bigint[], text[], timestamptz);
"""


def create_functions(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(AVAILABILITY_RECOMPUTE)
        schema_editor.execute(POST_QUANTITY)


def drop_functions(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0003_stock_screen_permissions")]

    operations = [migrations.RunPython(create_functions, drop_functions)]
