"""The Stripe-style webhook signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">, within 300 s."""

from __future__ import annotations

import json
import uuid

import pytest

from services.credits.billing import CHECKOUT_COMPLETED, StripeLikeProvider, WebhookRefused, checkout_event
from services.credits.settings import DEFAULT_PACKS

NOW = 1_764_355_200


def test_a_good_signature_passes_and_the_checkout_is_read() -> None:
    provider = StripeLikeProvider("whsec_test")
    tenant = uuid.uuid4()
    body = checkout_event(tenant, DEFAULT_PACKS[1], event_id="evt_1")
    provider.verify(body, provider.signature(body, NOW), now=NOW + 10)
    delivery = provider.parse(body)
    assert delivery.type == CHECKOUT_COMPLETED and delivery.event_id == "evt_1"
    assert delivery.checkout is not None
    assert (delivery.checkout.tenant_id, delivery.checkout.pack) == (tenant, "studio")


def test_known_vector() -> None:
    """The HMAC is over "<t>.<body>" with the secret, hex: the same as Stripe's libraries compute."""
    import hashlib
    import hmac

    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"whsec_test", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert StripeLikeProvider("whsec_test").signature(body, 1_700_000_000) == f"t=1700000000,v1={expected}"


@pytest.mark.parametrize(
    "header",
    [None, "", "t=abc,v1=00", "v1=00", "t=1764355200", "t=1764355200,v1=deadbeef"],
)
def test_missing_or_malformed_signatures_are_refused(header: str | None) -> None:
    with pytest.raises(WebhookRefused):
        StripeLikeProvider("whsec_test").verify(b"{}", header, now=NOW)


def test_other_secret_tampered_body_and_stale_timestamp_are_refused() -> None:
    provider = StripeLikeProvider("whsec_test")
    body = checkout_event(uuid.uuid4(), DEFAULT_PACKS[0])
    with pytest.raises(WebhookRefused):
        provider.verify(body, StripeLikeProvider("whsec_other").signature(body, NOW), now=NOW)
    with pytest.raises(WebhookRefused):
        provider.verify(body + b" ", provider.signature(body, NOW), now=NOW)
    with pytest.raises(WebhookRefused, match="stale"):
        provider.verify(body, provider.signature(body, NOW - 301), now=NOW)
    with pytest.raises(WebhookRefused):
        provider.verify(body, provider.signature(body, NOW + 301), now=NOW)
    provider.verify(body, provider.signature(body, NOW - 299), now=NOW)


def test_a_rolled_secret_may_sign_alongside_the_old_one() -> None:
    provider = StripeLikeProvider("whsec_new")
    body = b'{"id":"evt_2","type":"x"}'
    old = StripeLikeProvider("whsec_old").signature(body, NOW).split(",")[1]
    provider.verify(body, f"{provider.signature(body, NOW)},{old}", now=NOW)


def test_other_events_are_acknowledged_without_a_checkout() -> None:
    provider = StripeLikeProvider("s")
    assert provider.parse(json.dumps({"id": "evt_3", "type": "invoice.paid"}).encode()).checkout is None
    unpaid = json.loads(checkout_event(uuid.uuid4(), DEFAULT_PACKS[0]))
    unpaid["data"]["object"]["payment_status"] = "unpaid"
    assert provider.parse(json.dumps(unpaid).encode()).checkout is None
    with pytest.raises(WebhookRefused):
        provider.parse(b"not json")
    with pytest.raises(WebhookRefused):
        provider.parse(json.dumps({"id": "e", "type": CHECKOUT_COMPLETED, "data": {"object": {}}}).encode())
