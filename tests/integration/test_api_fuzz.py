"""The public API under a fuzzer: every operation in the gateway's own OpenAPI document, over real HTTP.

Schemathesis (`st run`) reads `/openapi.json` from the live gateway and sends generated requests, valid
and invalid, to every operation, then checks each answer: no 5xx, a status code the document lists, the
content type and body schema it declares, invalid input refused, state that stays consistent across
calls. It runs as a subprocess: the gateway is served by this test session's event loop, which a
synchronous fuzzer in this process would block (the server could never answer).

It signs in as a tenant of its own, seeded with a few images (two sessions and one quarantined file), so
lists and reads have rows to serialise and the rest of the suite never sees what the fuzzer changed.

Budget: `ATELIER_FUZZ_EXAMPLES` test cases per operation and phase (10 in `make test`: ~600 requests in
~20 s; 200 in `make chaos`). `ATELIER_FUZZ_SEED` fixes the run (default: the same seed every time, so a
`make test` failure reproduces); `random` lets schemathesis pick one, which the failure message names.

A small budget meets a huge integer only by luck, so a second test checks outright that every integer a
client sends is bounded within what PostgreSQL can hold.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("ATELIER_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("ATELIER_FUZZ_SEED", "20261128")
# generous: ~10 examples take well under a minute; the chaos budget (200) a few minutes
TIMEOUT_SECONDS = 120 + 3 * EXAMPLES

# every check schemathesis has (its default) except these, which judge API design choices rather than
# whether we tell the truth:
EXCLUDED_CHECKS = {
    # "a request the document allows must succeed": the document cannot say which directories exist
    # under the allowed roots (POST /folders answers 400/403), which names the server's time zone
    # database knows (PUT /settings/time-zone answers 422), or that an upload needs at least one file
    "positive_data_acceptance": "semantic refusals the schema cannot express",
    # "a method the document does not list answers 405": GET /assets/lookup is routed to
    # GET /assets/{asset_id} (and GET /sessions/merge to /sessions/{session_id}), which answers 422
    # for the id "lookup"; the routes are matched by path first, as in any FastAPI app
    "unsupported_method": "a literal path segment beside an {id} route answers 422, not 405",
    # "405's Allow header lists every method of the path": Starlette lists the methods of the first
    # route that matched the path only (OPTIONS /folders says `Allow: POST`, not `GET, POST`); the fix
    # is an app-wide 405 handler that names every route of the path (the app's, not a router's)
    "allow_header_conformance": "Starlette's 405 names one route's methods",
}
# checks off for one operation only, with why; every operation of the document is fuzzed
OPERATION_EXEMPTIONS = {
    # "invalid data is refused": in a multipart body every field is text and a list is a repeated field,
    # so the fuzzer's "invalid" cases are valid forms (`last_modified=true` is the text "true", one
    # `sidecar` field is a list of one); the route still gets every other check
    ("post", "/api/v1/assets"): ["negative_data_rejection"],
    # "a resource just created is found": an upload answered `queued` (`wait=false` answers at once) is an
    # asset only once ingest has imported it, a moment later; until then its id is a 404, truthfully
    ("get", "/api/v1/assets/{asset_id}"): ["ensure_resource_availability"],
}
# the CLI's report parts that must be empty
PROBLEMS = ("failures", "errors")
# PostgreSQL's bigint: asyncpg cannot bind an int outside it (that was a 500, not a 422)
INT64 = (-(2**63), 2**63 - 1)


def _png(seed: int) -> bytes:
    """A small PNG with an A1111 `parameters` text, distinct per seed."""
    image = Image.new("RGB", (32, 32), ((seed * 53) % 256, (seed * 97) % 256, (seed * 29) % 256))
    info = PngInfo()
    info.add_text("parameters", f"a lighthouse at dusk\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
                                f"Seed: {seed}, Size: 32x32, Model: sdxl_base")  # fmt: skip
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


async def _seed(client: httpx.AsyncClient) -> None:
    """Two sessions of two images each (3 h apart), and a PNG that is not one (quarantined)."""
    t0 = datetime(2023, 2, 7, 9, 0, tzinfo=UTC)
    times = [t0, t0 + timedelta(minutes=2), t0 + timedelta(hours=3), t0 + timedelta(hours=3, minutes=2)]
    files = [("files", (f"fuzz-seed-{i}.png", _png(7000 + i), "image/png")) for i in range(len(times))]
    files.append(("files", ("fuzz-seed-broken.png", b"\x89PNG\r\n\x1a\n not really", "image/png")))
    form = {"last_modified": [str(int(t.timestamp() * 1000)) for t in times]}
    response = await client.post("/api/v1/assets", files=files, data=form)
    assert response.status_code == 200, response.text
    statuses = [r["status"] for r in response.json()]
    assert statuses[:4] == ["imported"] * 4, response.text


def _requests_served() -> float:
    """HTTP requests the gateway has answered in this process (its Prometheus counter)."""
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "atelier_http_requests":
            total += sum(s.value for s in metric.samples
                         if s.name.endswith("_total") and s.labels.get("service") == "gateway")  # fmt: skip
    return total


async def _run_schemathesis(args: list[str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", *args,
        cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        output, _ = await process.communicate()
    finally:  # a timed-out or cancelled test leaves no fuzzer running
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@pytest.mark.timeout(TIMEOUT_SECONDS)
async def test_every_route_answers_truthfully_under_the_fuzzer(
    stack: dict[str, Any], gateway_url: str, new_tenant: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, client = await new_tenant()
    await _seed(client)
    # GET /api/v1/events streams until `live_stream_max_seconds` (300 s): end each stream after 1 s
    monkeypatch.setattr(stack["gateway"].settings, "live_stream_max_seconds", 1.0)
    document = (await client.get("/openapi.json")).json()
    operations = sum(len(methods) for methods in document["paths"].values())
    # checks are chosen in a config file: only there can one operation have its own (the CLI's
    # --checks would override the file's per-operation settings)
    config = ["[checks]", *(f"{check}.enabled = false" for check in EXCLUDED_CHECKS)]
    for (method, path), checks in OPERATION_EXEMPTIONS.items():
        config += [
            "",
            "[[operations]]",
            f'include-operation-id = "{document["paths"][path][method]["operationId"]}"',
        ]
        config += [f"checks.{check}.enabled = false" for check in checks]
    (tmp_path / "schemathesis.toml").write_text("\n".join(config) + "\n")

    report = tmp_path / "report.json"
    args = [
        "--config-file", str(tmp_path / "schemathesis.toml"),
        "run", f"{gateway_url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--max-examples", str(EXAMPLES),
        "--request-timeout", "30",
        "--generation-database", "none",
        "--report", "json", "--report-json-path", str(report),
        "--no-color",
    ]  # fmt: skip
    if SEED != "random":
        args += ["--seed", SEED]
    served_before = _requests_served()
    started = asyncio.get_running_loop().time()
    code, output = await _run_schemathesis(args, tmp_path)
    seconds = asyncio.get_running_loop().time() - started
    requests = int(_requests_served() - served_before)

    assert report.exists(), f"schemathesis wrote no report (exit {code}):\n{output}"
    result = json.loads(report.read_text())
    summary = (f"{result['operations']['tested']}/{operations} operations, "
               f"{result['test_cases']['generated']} test cases, {requests} requests in {seconds:.0f} s, "
               f"{EXAMPLES} examples per operation, seed {result['seed']}")  # fmt: skip
    print(f"\nAPI fuzz: {summary}")
    problems = {part: result[part] for part in PROBLEMS if result[part]}
    assert code == 0 and not problems, f"the fuzzer found problems ({summary}):\n{output}"
    # every operation of the document was fuzzed (none skipped, none errored)
    assert result["operations"]["tested"] == result["operations"]["selected"] == operations, summary
    assert requests >= result["test_cases"]["generated"], summary  # it fuzzed this gateway


def _integer_schemas(node: Any, document: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every integer schema under `node` (references followed), with where it was found."""
    if isinstance(node, list):
        return [
            found for i, item in enumerate(node) for found in _integer_schemas(item, document, f"{where}/{i}")
        ]
    if not isinstance(node, dict):
        return []
    if "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _integer_schemas(target, document, node["$ref"])
    found = [(where, node)] if node.get("type") == "integer" else []
    for key, value in node.items():
        found += _integer_schemas(value, document, f"{where}/{key}")
    return found


async def test_every_integer_a_client_sends_is_bounded(new_tenant: Any) -> None:
    """The fuzzer meets a huge integer only now and then (hypothesis draws wide ints rarely), so a
    missing bound is checked outright: every integer in a request has a minimum and a maximum that
    PostgreSQL can hold, and 2**64 in any integer query parameter is a 422."""
    _, client = await new_tenant()
    document = (await client.get("/openapi.json")).json()
    unbounded, answers = [], {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            request_parts = {
                "parameters": operation.get("parameters", []),
                "body": operation.get("requestBody", {}),
            }
            for where, schema in _integer_schemas(request_parts, document, f"{method.upper()} {path}"):
                low, high = schema.get("minimum", schema.get("exclusiveMinimum")), schema.get("maximum")
                if low is None or high is None or low < INT64[0] or high > INT64[1]:
                    unbounded.append(where)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and _integer_schemas(parameter["schema"], document, ""):
                    url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)  # ids in the path: any will do
                    asked = f"{method.upper()} {path}?{parameter['name']}=2**64"
                    try:
                        response = await client.request(method, url, params={parameter["name"]: str(2**64)})
                    except Exception as exc:  # over ASGI, the app's own exception reaches the client
                        answers[asked] = f"500 ({type(exc).__name__}: {exc})"
                    else:
                        answers[asked] = response.status_code
    assert not unbounded, f"integers without bounds PostgreSQL can hold: {unbounded}"
    assert answers and all(code == 422 for code in answers.values()), answers
