"""Adapters are pure: the shipped samples and test vectors, parsed and verified."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from erp.adapters import ADAPTERS, MalformedPayload, carriers, shopify, threepl

from .conftest import b64_hmac, sample, sample_json, vector_header

SHOPIFY_SAMPLES = {
    "shopify_webhook_returns_request.json": "returns/request",
    "shopify_webhook_returns_request_realistic.json": "returns/request",
    "shopify_webhook_returns_approve.json": "returns/approve",
    "shopify_webhook_returns_decline.json": "returns/decline",
    "shopify_webhook_returns_cancel.json": "returns/cancel",
    "shopify_webhook_returns_close.json": "returns/close",
    "shopify_webhook_returns_reopen.json": "returns/reopen",
    "shopify_webhook_refunds_create.json": "refunds/create",
    "shopify_webhook_orders_updated.json": "orders/updated",
}
CARRIER_SAMPLES = [
    ("easypost", "easypost_event_tracker_updated.json"),
    ("easypost", "easypost_event_tracker_updated.raw_body.txt"),
    ("easypost", "easypost_event_tracker_updated_delivered.json"),
    ("aftership", "aftership_webhook_tracking_update.json"),
    ("shippo", "shippo_webhook_track_updated.json"),
]


def test_shopify_test_vector_verifies_with_its_secret_only():
    body = sample("shopify_webhook_returns_request.json")
    signature = vector_header("shopify_hmac_test_vector.txt", "X-Shopify-Hmac-Sha256")
    headers = {"X-Shopify-Hmac-Sha256": signature}

    assert shopify.verify(body, headers, ["hush"])
    # Rotation: the old secret still verifies while it is listed beside the new one.
    assert shopify.verify(body, headers, ["new-secret", "hush"])
    assert not shopify.verify(body, headers, ["new-secret"])
    # One byte more is another body.
    assert not shopify.verify(body + b"\n", headers, ["hush"])
    assert not shopify.verify(body, {}, ["hush"])


def test_easypost_official_vector_verifies_with_the_nfkd_normalised_secret():
    body = sample("easypost_event_tracker_updated.raw_body.txt")
    signature = vector_header("easypost_hmac_test_vector.txt", "X-Hmac-Signature")

    assert carriers.easypost_verify(body, {"X-Hmac-Signature": signature}, ["sécret"])
    # The decomposed spelling of the same secret is the same key after NFKD.
    assert carriers.easypost_verify(body, {"x-hmac-signature": signature}, ["se\u0301cret"])
    assert not carriers.easypost_verify(body, {"X-Hmac-Signature": signature}, ["secret"])
    bare_hex = signature.removeprefix("hmac-sha256-hex=")
    assert not carriers.easypost_verify(body, {"X-Hmac-Signature": bare_hex}, ["sécret"])


@pytest.mark.parametrize(("name", "topic"), SHOPIFY_SAMPLES.items())
def test_every_shopify_sample_parses(name, topic):
    body = sample(name)
    envelope = shopify.envelope(body, {"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": "wh-1"})
    message = shopify.parse(topic, body)

    assert envelope.topic == topic
    assert envelope.external_id == "wh-1"
    assert message is not None


def test_shopify_return_lines_keep_ids_as_strings_and_reason_codes_upper_case():
    message = shopify.parse(
        "returns/request", sample("shopify_webhook_returns_request_realistic.json")
    )

    assert message.return_id == "3547267221"
    assert message.order_id == "5196695273621"
    assert message.status == "REQUESTED"
    [line] = message.lines
    assert line.line_item_id == "12695210000533"
    assert line.return_line_item_id == "6200524949"
    assert (line.quantity, line.reason_code) == (1, "UNWANTED")


def test_shopify_ids_come_from_the_gid_where_the_integer_lost_precision():
    raw = sample_json("shopify_webhook_orders_updated.json")
    message = shopify.parse("orders/updated", sample("shopify_webhook_orders_updated.json"))

    # The fixture's integer id was rounded through a float; the gid was not.
    assert raw["id"] == 820982911946154500
    assert message.order_id == "820982911946154508"
    assert [line.line_item_id for line in message.lines] == [
        "866550311766439020",
        "141249953214522974",
    ]
    assert message.lines[0].unit_price == Decimal("199.00")
    assert message.customer.email == "john@example.com"


def test_shopify_decline_and_close_carry_their_status():
    decline = shopify.parse("returns/decline", sample("shopify_webhook_returns_decline.json"))
    close = shopify.parse("returns/close", sample("shopify_webhook_returns_close.json"))

    assert (decline.status, decline.decline_reason) == ("DECLINED", "return_period_ended")
    assert (close.status, close.order_id) == ("CLOSED", "4783296544821")


def test_shopify_envelope_refuses_a_delivery_without_topic_or_id():
    body = sample("shopify_webhook_returns_close.json")
    with pytest.raises(MalformedPayload, match="X-Shopify-Topic"):
        shopify.envelope(body, {"X-Shopify-Webhook-Id": "1"})
    with pytest.raises(MalformedPayload, match="X-Shopify-Webhook-Id"):
        shopify.envelope(body, {"X-Shopify-Topic": "returns/close"})
    with pytest.raises(MalformedPayload, match="not JSON"):
        shopify.envelope(
            b"{oops", {"X-Shopify-Topic": "returns/close", "X-Shopify-Webhook-Id": "1"}
        )


@pytest.mark.parametrize(("source", "name"), CARRIER_SAMPLES)
def test_every_carrier_sample_maps_to_a_canonical_status(source, name):
    adapter = ADAPTERS[source]
    body = sample(name)
    envelope = adapter.envelope(body, {})
    update = adapter.parse(envelope.topic, body)

    assert update.status in set(carriers.status_map().values())
    assert update.tracking_number


def test_carrier_statuses_and_eta():
    easypost = carriers.easypost_parse(
        "tracker.updated", sample("easypost_event_tracker_updated.raw_body.txt")
    )
    delivered = ADAPTERS["easypost"].parse(
        "tracker.updated", sample("easypost_event_tracker_updated_delivered.json")
    )
    shippo = carriers.shippo_parse("track_updated", sample("shippo_webhook_track_updated.json"))
    aftership = carriers.aftership_parse(
        "tracking_update", sample("aftership_webhook_tracking_update.json")
    )

    assert (easypost.status, easypost.provider_status) == ("IN_TRANSIT", "in_transit")
    assert easypost.eta == datetime(2024, 8, 5, tzinfo=UTC)
    assert delivered.status == "DELIVERED"
    assert (shippo.status, shippo.reference) == ("DELIVERED", "Order 000123")
    assert shippo.eta == datetime(2019, 8, 24, 14, 15, 22, tzinfo=UTC)
    assert (aftership.status, aftership.status_detail) == ("IN_TRANSIT", "InTransit_001")


def test_an_unknown_carrier_status_is_unknown_with_the_raw_value_kept():
    data = sample_json("shippo_webhook_track_updated.json")
    data["data"]["tracking_status"]["status"] = "LOST_IN_SPACE"
    update = carriers.shippo_parse("track_updated", json.dumps(data).encode())

    assert (update.status, update.provider_status) == ("UNKNOWN", "LOST_IN_SPACE")


def test_shiphero_update_accepts_string_numbers_and_uses_the_warehouse_figures():
    snapshot = threepl.shiphero_parse(
        "Inventory Update", sample("shiphero_webhook_inventory_update.json")
    )

    [line] = snapshot.lines
    assert (line.sku, line.external_location) == ("string", "12345")
    assert (line.on_hand, line.available, line.allocated, line.on_hold) == (48, 13, 25, 250)
    assert snapshot.is_delta is False


def test_shiphero_change_is_a_delta_for_one_location():
    snapshot = threepl.shiphero_parse(
        "Inventory Change", sample("shiphero_webhook_inventory_change.json")
    )

    assert snapshot.is_delta
    [line] = snapshot.lines
    assert (line.sku, line.external_location, line.on_hand, line.lot) == (
        "LOT01",
        "76733",
        10,
        "114475",
    )
    assert snapshot.taken_at == datetime(2025, 2, 3, 13, 19, 30, tzinfo=UTC)


def test_shipbob_both_api_versions():
    v1 = threepl.shipbob_parse(sample("shipbob_inventory_v1_item.json"))
    v2 = threepl.shipbob_parse(sample("shipbob_inventory_level_by_lot_2_0.json"))

    assert [(x.external_location, x.on_hand, x.available) for x in v1.lines] == [
        ("211", 1688, 1688)
    ]
    assert [(x.sku, x.lot, x.on_hand) for x in v2.lines] == [("string", "string", 0)]


def test_extensiv_keys_are_case_insensitive_and_numbers_may_be_strings():
    camel = threepl.extensiv_parse(sample("extensiv_stocksummaries_SYNTHETIC.json"))
    pascal_body = {
        "Summaries": [
            {
                "FacilityId": 1,
                "ItemIdentifier": {"Sku": "ACME-STOVE-01", "Id": 101},
                "OnHand": "100",
                "Allocated": "5",
                "OnHold": 2,
                "Available": "93",
            }
        ]
    }
    pascal = threepl.extensiv_parse(json.dumps(pascal_body).encode())

    assert camel.lines[0] == pascal.lines[0]
    assert [x.sku for x in camel.lines] == ["ACME-STOVE-01", "ACME-PAN-02"]
    with pytest.raises(MalformedPayload, match="whole number"):
        threepl.extensiv_parse(
            b'{"summaries": [{"itemIdentifier": {"sku": "A"}, "onHand": "1.5"}]}'
        )


def test_a_signature_made_with_another_secret_never_verifies_any_source():
    body = sample("aftership_webhook_tracking_update.json")
    headers = {"aftership-hmac-sha256": b64_hmac("other", body)}

    assert carriers.aftership_verify(body, headers, ["other"])
    assert not carriers.aftership_verify(body, headers, ["mine"])
    assert not threepl.shiphero_verify(body, {"x-shiphero-hmac-sha256": "x"}, ["mine"])
