"""Accounts over the real stack: sign-up, sign-in and out, API tokens, CSRF, the sign-in slow-down."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

pytestmark = pytest.mark.integration

SITE = "http://localhost"
PASSWORD = "correct horse battery"


@pytest.fixture
async def browser(stack):  # type: ignore[no-untyped-def]
    """`client = browser(address)`: a client keeping cookies like a browser, from `address`,
    whose requests say they come from our own page unless told otherwise."""
    clients: list[httpx.AsyncClient] = []

    def make(address: str = "127.0.0.1") -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=stack["gateway"].app, client=(address, 50000)),
            base_url=SITE,
            headers={"Origin": SITE},
            timeout=60,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def _email() -> str:
    return f"Person-{uuid.uuid4().hex[:10]}@Example.com"


def _address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


@pytest.fixture
async def signed_up(browser) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:  # type: ignore[no-untyped-def]
    client = browser(_address())
    email = _email()
    response = await client.post(
        "/api/v1/accounts", json={"email": email, "password": PASSWORD, "name": "Ada"}
    )
    assert response.status_code == 201, response.text
    yield email, client


async def test_sign_up_signs_in_and_makes_a_workspace(signed_up) -> None:
    email, client = signed_up
    me = (await client.get("/api/v1/me")).json()
    assert me["email"] == email and me["name"] == "Ada" and me["account_id"]
    assert me["workspace_id"] == me["tenant_id"] and me["time_zone"] == "UTC"
    cookie = client.cookies.jar
    [session_cookie] = [c for c in cookie if c.name == "atelier_session"]
    # plain HTTP to localhost: not Secure (a browser would drop it); HttpOnly and SameSite=Lax always
    assert not session_cookie.secure
    assert session_cookie.has_nonstandard_attr("HttpOnly")
    # beside it, a companion the page's script can read, holding no secret: "a session may be open"
    [flag] = [c for c in cookie if c.name == "atelier_signed_in"]
    assert flag.value == "1" and not flag.has_nonstandard_attr("HttpOnly")
    assert (await client.get("/api/v1/sessions")).json() == []
    await client.post("/api/v1/logout")
    assert not [c for c in client.cookies.jar if c.name in ("atelier_session", "atelier_signed_in")]


async def test_session_cookie_is_secure_off_localhost(stack) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack["gateway"].app),
                                 base_url="http://atelier.example") as client:  # fmt: skip
        response = await client.post(
            "/api/v1/accounts", json={"email": _email(), "password": PASSWORD, "name": "Bo"}
        )
    assert response.status_code == 201
    header = response.headers["set-cookie"].lower()
    assert "secure" in header and "httponly" in header and "samesite=lax" in header


async def test_weak_passwords_are_422_with_the_reason(browser) -> None:
    client = browser()
    email = _email()
    for password, reason in [("short", "at least 10"), ("aaaaaaaaaaaa", "repeated"), (email, "email"),
                             ("password123", "common")]:  # fmt: skip
        response = await client.post(
            "/api/v1/accounts", json={"email": email, "password": password, "name": "A"}
        )
        assert response.status_code == 422, password
        assert reason in str(response.json()["detail"])
    response = await client.post(
        "/api/v1/accounts", json={"email": "not-an-email", "password": PASSWORD, "name": "A"}
    )
    assert response.status_code == 422


async def test_second_sign_up_with_the_same_email_is_409_whatever_its_case(signed_up, browser) -> None:
    email, _ = signed_up
    response = await browser().post(
        "/api/v1/accounts", json={"email": email.upper(), "password": "another good one", "name": "Eve"}
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "this email cannot be used to sign up"}
    assert "atelier_session" not in response.headers.get("set-cookie", "")


async def test_sign_in_sign_out(signed_up, browser) -> None:
    email, _ = signed_up
    client = browser(_address())
    assert (await client.get("/api/v1/me")).status_code == 401
    wrong = await client.post("/api/v1/login", json={"email": email, "password": "not the password"})
    assert wrong.status_code == 401
    response = await client.post("/api/v1/login", json={"email": email.lower(), "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == email
    session_id = client.cookies["atelier_session"]
    assert (await client.get("/api/v1/me")).status_code == 200
    # the session id is not an API token
    bearer = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {session_id}"})
    assert bearer.status_code == 401
    assert (await client.post("/api/v1/logout")).status_code == 200
    # revoked server-side: the same cookie, sent again, no longer works
    assert "atelier_session" not in client.cookies
    assert (
        await client.get("/api/v1/me", headers={"Cookie": f"atelier_session={session_id}"})
    ).status_code == 401


async def test_signing_in_again_ends_the_browsers_previous_session(signed_up) -> None:
    email, client = signed_up
    first = client.cookies["atelier_session"]
    assert (
        await client.post("/api/v1/login", json={"email": email, "password": PASSWORD})
    ).status_code == 200
    assert client.cookies["atelier_session"] != first
    assert (await client.get("/api/v1/me")).status_code == 200
    assert (await client.get("/api/v1/me", headers={"Cookie": f"atelier_session={first}"})).status_code == 401


async def test_demo_token_sign_in_makes_a_session_not_a_token_cookie(browser) -> None:
    client = browser()
    response = await client.post("/api/v1/login", json={"token": "test-demo-token"})
    assert response.status_code == 200
    assert response.json()["tenant"] == "demo" and response.json()["account_id"] is None
    assert client.cookies["atelier_session"] != "test-demo-token"
    assert (await client.get("/api/v1/me")).json()["tenant"] == "demo"
    # an API token sent as the cookie is not a session
    other = browser()
    assert (
        await other.get("/api/v1/me", headers={"Cookie": "atelier_session=test-demo-token"})
    ).status_code == 401
    assert (await client.post("/api/v1/login", json={"token": "not-a-token"})).status_code == 401


async def test_api_tokens_create_list_revoke(signed_up, stack) -> None:
    _, client = signed_up
    made = await client.post("/api/v1/tokens", json={"label": "laptop sync"})
    assert made.status_code == 201
    token = made.json()
    assert token["token"].startswith(token["prefix"]) and token["label"] == "laptop sync"
    with_token = httpx.AsyncClient(transport=httpx.ASGITransport(app=stack["gateway"].app), base_url=SITE,
                                   headers={"Authorization": f"Bearer {token['token']}"})  # fmt: skip
    async with with_token:
        me = await with_token.get("/api/v1/me")
        assert (
            me.status_code == 200 and me.json()["email"] == (await client.get("/api/v1/me")).json()["email"]
        )
        [listed] = (await client.get("/api/v1/tokens")).json()
        assert listed["id"] == token["id"] and "token" not in listed
        assert listed["prefix"] == token["prefix"] and listed["last_used_at"] is not None
        # a Bearer request is not held to the Origin check
        assert (
            await with_token.put("/api/v1/settings/time-zone", json={"time_zone": "Europe/Paris"})
        ).status_code == 200
        assert (await client.delete(f"/api/v1/tokens/{token['id']}")).status_code == 204
        assert (await with_token.get("/api/v1/me")).status_code == 401
        assert (await client.get("/api/v1/tokens")).json() == []
        assert (await client.delete(f"/api/v1/tokens/{token['id']}")).status_code == 404


async def test_another_workspaces_token_cannot_be_revoked(signed_up, api) -> None:
    _, client = signed_up
    demo_token = (await api.post("/api/v1/tokens", json={"label": "demo's"})).json()
    assert (await client.delete(f"/api/v1/tokens/{demo_token['id']}")).status_code == 404
    assert demo_token["id"] in {t["id"] for t in (await api.get("/api/v1/tokens")).json()}
    assert (await api.delete(f"/api/v1/tokens/{demo_token['id']}")).status_code == 204


async def test_cookie_requests_that_change_something_must_come_from_our_pages(signed_up) -> None:
    _, client = signed_up
    body = {"time_zone": "Europe/Paris"}
    foreign = await client.put(
        "/api/v1/settings/time-zone", json=body, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and "Origin" in foreign.json()["detail"]
    del client.headers["Origin"]
    bare = await client.put("/api/v1/settings/time-zone", json=body)
    assert bare.status_code == 403
    by_referer = await client.put("/api/v1/settings/time-zone", json=body, headers={"Referer": f"{SITE}/"})
    assert by_referer.status_code == 200
    foreign_referer = await client.put("/api/v1/settings/time-zone", json=body,
                                       headers={"Referer": "http://localhost.evil.example/"})  # fmt: skip
    assert foreign_referer.status_code == 403
    # reads are not held to it
    assert (await client.get("/api/v1/settings/time-zone")).json() == {"time_zone": "Europe/Paris"}
    same = await client.put("/api/v1/settings/time-zone", json={"time_zone": "UTC"}, headers={"Origin": SITE})
    assert same.status_code == 200
    # nor is signing in from our page; signing in from another site's is refused (login CSRF)
    response = await client.post("/api/v1/login", json={"token": "test-demo-token"},
                                 headers={"Origin": "https://evil.example"})  # fmt: skip
    assert response.status_code == 403


async def test_failed_sign_ins_are_slowed_down(signed_up, browser) -> None:
    email, _ = signed_up
    client = browser(_address())
    for _ in range(5):
        response = await client.post("/api/v1/login", json={"email": email, "password": "wrong password!"})
        assert response.status_code == 401
    slowed = await client.post("/api/v1/login", json={"email": email, "password": "wrong password!"})
    assert slowed.status_code == 429
    assert 1 <= int(slowed.headers["Retry-After"]) <= 30
    # the right password waits too (else the wait would tell a guesser it had found it)...
    right = await client.post("/api/v1/login", json={"email": email, "password": PASSWORD})
    assert right.status_code == 429
    # ... from any address: the count is per account
    assert (
        await browser(_address()).post("/api/v1/login", json={"email": email, "password": PASSWORD})
    ).status_code == 429


async def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_one_at_a_time(signed_up, browser) -> None:
    import asyncio

    email, _ = signed_up
    answers = await asyncio.gather(*(
        browser(_address()).post("/api/v1/login", json={"email": email, "password": f"guess number {n}"})
        for n in range(20)
    ))  # fmt: skip
    codes = sorted(a.status_code for a in answers)
    assert codes == [401] * 5 + [429] * 15


async def test_failed_sign_ins_are_slowed_down_per_address(browser, stack, monkeypatch) -> None:
    settings = stack["gateway"].settings
    monkeypatch.setattr(settings, "sign_in_failures_per_address", 3)
    client = browser(_address())
    for _ in range(3):  # three different emails, one address
        response = await client.post("/api/v1/login", json={"email": _email(), "password": "wrong password!"})
        assert response.status_code == 401
    slowed = await client.post("/api/v1/login", json={"email": _email(), "password": "wrong password!"})
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) > 0
    # another address is not slowed
    assert (
        await browser(_address()).post("/api/v1/login", json={"email": _email(), "password": "x" * 12})
    ).status_code == 401


async def _admin(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """`atelier admin ...` as an operator runs it: a process of its own, over the test database."""
    import asyncio
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "libs.cli.main", "admin", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate(stdin.encode() if stdin is not None else b"")
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_admin_create_list_reset_disable(browser) -> None:
    email = _email()
    code, output = await _admin("create-account", "--email", email, "--name", "Grace", stdin=PASSWORD + "\n")
    assert code == 0, output
    code, output = await _admin(
        "create-account", "--email", email.lower(), "--name", "G", "--password", PASSWORD
    )
    assert code == 2 and "exists" in output
    code, output = await _admin("create-account", "--email", _email(), "--name", "G", "--password", "short")
    assert code == 2 and "at least 10" in output
    code, output = await _admin("list-accounts")
    assert code == 0 and email in output and "active" in output

    client = browser(_address())
    assert (
        await client.post("/api/v1/login", json={"email": email, "password": PASSWORD})
    ).status_code == 200
    token = (await client.post("/api/v1/tokens", json={"label": "script"})).json()["token"]

    # a reset ends the browser sessions (the old password no longer opens one), tokens go on
    code, output = await _admin("reset-password", "--email", email, "--password", "a brand new passphrase")
    assert code == 0, output
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (
        await client.post("/api/v1/login", json={"email": email, "password": PASSWORD})
    ).status_code == 401
    assert (
        await client.post("/api/v1/login", json={"email": email, "password": "a brand new passphrase"})
    ).status_code == 200
    with_token = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=with_token)).status_code == 200

    # disabled: no sign-in, and its session and tokens stop working at once
    code, output = await _admin("disable-account", "--email", email)
    assert code == 0, output
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await client.get("/api/v1/me", headers=with_token)).status_code == 401
    assert (
        await browser(_address()).post(
            "/api/v1/login", json={"email": email, "password": "a brand new passphrase"}
        )
    ).status_code == 401
    code, output = await _admin("list-accounts")
    assert "disabled" in output
    assert (await _admin("disable-account", "--email", _email()))[0] == 1
