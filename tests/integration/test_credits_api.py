"""Credits as a person and the payment provider reach them through the gateway (the credits service
behind it, real database): the starting grant, buying a pack, the history, and the provider's webhook,
signed, replayed, stale and forged."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from libs.billing import stripe_signature

pytestmark = pytest.mark.integration

SECRET = "whsec_atelier_dev_only"  # the dev default both the gateway and credits read


def _event(tenant_id: str, pack: str, event_id: str | None = None) -> bytes:
    return json.dumps({
        "id": event_id or f"evt_{uuid.uuid4().hex}", "type": "checkout.session.completed",
        "data": {"object": {"id": f"cs_{uuid.uuid4().hex}", "payment_status": "paid",
                            "metadata": {"tenant_id": tenant_id, "pack": pack}}},
    }).encode()  # fmt: skip


async def test_balance_purchase_history_and_webhook(stack, new_tenant) -> None:
    _, client = await new_tenant()
    tenant = (await client.get("/api/v1/me")).json()["workspace_id"]

    # a new workspace opens with the starting grant; the packs say their price
    credits = (await client.get("/api/v1/credits")).json()
    assert (credits["balance"], credits["reserved"], credits["available"]) == (100, 0, 100)
    assert {p["id"]: (p["credits"], p["price"]) for p in credits["packs"]} == {
        "starter": (100, "$5.00"), "studio": (500, "$20.00"), "pro": (2000, "$60.00"),
    }  # fmt: skip

    # buying a pack with the built-in test provider credits it at once, through the webhook's path
    bought = await client.post("/api/v1/billing/checkout", json={"pack": "studio"})
    assert bought.json() == {"status": "paid", "url": None}
    assert (await client.get("/api/v1/credits")).json()["available"] == 600
    assert (await client.post("/api/v1/billing/checkout", json={"pack": "platinum"})).status_code == 404

    # the provider's webhook: credited once per event id, a replay changes nothing
    body = _event(tenant, "starter", "evt_once")
    signed = {"Stripe-Signature": stripe_signature(SECRET, body, int(time.time()))}
    first = await client.post("/api/v1/billing/webhook", content=body, headers=signed)
    assert first.status_code == 200 and first.json()["outcome"] == "credited", first.text
    replay = await client.post("/api/v1/billing/webhook", content=body, headers=signed)
    assert replay.status_code == 200 and replay.json()["outcome"] == "duplicate"
    assert (await client.get("/api/v1/credits")).json()["available"] == 700
    # forged, stale and unsigned deliveries are refused and change nothing
    other = _event(tenant, "pro")
    for headers in (
        {"Stripe-Signature": stripe_signature("whsec_wrong", other, int(time.time()))},
        {"Stripe-Signature": stripe_signature(SECRET, other, int(time.time()) - 3600)},
        {},
    ):
        assert (
            await client.post("/api/v1/billing/webhook", content=other, headers=headers)
        ).status_code == 400
    assert (await client.get("/api/v1/credits")).json()["available"] == 700

    # the history, newest first: the webhook's purchase, the test checkout's, the starting grant
    history = (await client.get("/api/v1/credits/history")).json()
    assert [(h["kind"], h["credits"], h["held"]) for h in history] == [
        ("purchase", 100, 0), ("purchase", 500, 0), ("grant", 100, 0),
    ]  # fmt: skip
    assert (await client.get("/api/v1/credits/history", params={"cursor": "nope"})).status_code == 422


async def test_a_deployment_without_a_provider_says_so(stack, new_tenant, monkeypatch) -> None:
    _, client = await new_tenant()
    monkeypatch.setattr(stack["gateway"].settings, "billing_test_checkout", False)
    response = await client.post("/api/v1/billing/checkout", json={"pack": "starter"})
    assert response.status_code == 501 and "payment provider" in response.json()["detail"]


async def test_admin_grant_gives_credits_once_per_key(stack, new_tenant) -> None:
    """`atelier admin grant EMAIL CREDITS --reason`: the operator's support grant, through the credits
    service, once per idempotency key."""
    import asyncio
    import os
    import sys

    browser_like = {"Origin": "http://gateway"}
    _, client = await new_tenant()
    email = f"grant-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/accounts", json={"email": email, "password": "correct horse battery 7", "name": "G"},
        headers=browser_like,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    env = {**os.environ, "ATELIER_CREDITS_URL": stack["gateway"].settings.credits_url}

    async def admin(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "libs.cli.main", "admin", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
        return process.returncode or 0, output.decode()

    code, output = await admin(
        "grant", email.upper(), "250", "--reason", "support", "--idempotency-key", "k1"
    )
    assert code == 0 and "available now 350" in output, output  # the starting 100, then 250
    code, output = await admin("grant", email, "250", "--reason", "support", "--idempotency-key", "k1")
    assert code == 0 and "nothing more granted" in output and "available now 350" in output, output
    code, output = await admin("grant", "nobody@example.com", "5", "--reason", "x")
    assert code == 1 and "no account" in output
