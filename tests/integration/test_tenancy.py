"""Tenants never see each other's assets, sessions or thumbnails."""

from __future__ import annotations

import pytest

from tests.polling import until

pytestmark = pytest.mark.integration


async def test_one_tenant_cannot_read_another_tenants_things(new_tenant, corpus) -> None:
    _, alice = await new_tenant()
    _, bob = await new_tenant()
    data = (
        corpus / "civitai/68295CAE9DE493031ACD8C135AD863E5E7C53D368852AD5FC14F661E6D489A58.jpeg"
    ).read_bytes()
    [mine] = (await alice.post("/api/v1/assets", files=[("files", ("c.jpeg", data, "image/jpeg"))])).json()
    assert mine["status"] == "imported"
    asset_id = mine["asset_id"]

    async def listed():  # type: ignore[no-untyped-def]
        return (await alice.get("/api/v1/sessions")).json()

    [session] = await until(listed)

    assert (await bob.get("/api/v1/sessions")).json() == []
    assert (await bob.get("/api/v1/assets")).json() == []
    assert (await bob.get(f"/api/v1/assets/{asset_id}")).status_code == 404
    assert (await bob.get(f"/api/v1/assets/{asset_id}/thumbnail")).status_code == 404
    assert (await bob.get(f"/api/v1/sessions/{session['id']}")).status_code == 404
    # the same bytes are Bob's own asset, not a duplicate of Alice's
    [his] = (await bob.post("/api/v1/assets", files=[("files", ("c.jpeg", data, "image/jpeg"))])).json()
    assert his["status"] == "imported" and his["asset_id"] != asset_id
