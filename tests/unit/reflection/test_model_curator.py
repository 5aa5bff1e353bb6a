"""The model path through litellm: against an OpenAI-compatible server on loopback that this test starts
(it reports usage, so the tokens and the price are real), and litellm's `mock_response` for failures and
the fallback model."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from libs.reflection import pricing
from libs.reflection.analysis import analyse
from libs.reflection.curator import build_prompt
from services.reflection.curators import CuratorFailed, ModelCurator
from tests.unit.reflection.session60 import OTHERS, session60

ANSWER = {
    "summary": [{"text": "A lighthouse on a cliff, painted 60 times.", "assets": ["i1", "i60"]}],
    "style_patterns": [
        {"text": "Blue for 30 images, then orange.", "assets": ["i1", "i31"]},
        {"text": "CFG 11 everywhere.", "assets": ["i2"]},  # invented: dropped
    ],
    "evolution_notes": [
        {"text": "At image 31 'golden hour' was added and CFG went from 5 to 7.", "assets": ["i30", "i31"]},
        {"text": "At image 41 the model became dreamshaperXL_turbo.", "assets": ["i40", "i41"]},
        {"text": "Image 77 is the best.", "assets": ["i77"]},  # no such image: dropped
    ],
}


@pytest.fixture
async def server() -> AsyncIterator[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"body": body, "auth": request.headers.get("Authorization")})
        return web.json_response({
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1764000000,
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "```json\n" + json.dumps(ANSWER) + "\n```"}}],
            "usage": {"prompt_tokens": 1234, "completion_tokens": 321, "total_tokens": 1555},
        })  # fmt: skip

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return await chat(request)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/slow/v1/chat/completions", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield {
            "api_base": f"http://127.0.0.1:{port}/v1",
            "slow": f"http://127.0.0.1:{port}/slow/v1",
            "seen": seen,
        }
    finally:
        await runner.cleanup()


async def test_model_on_loopback_server(server: dict[str, Any]) -> None:
    a = analyse(session60(), OTHERS)
    curator = ModelCurator(
        "openai/local-curator",
        api_base=server["api_base"],
        api_key="sk-test",
        timeout=10,
        retries=0,
        answer_tokens=700,
    )
    result = await curator.write(a)
    (request,) = server["seen"]
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "local-curator"
    assert request["body"]["max_tokens"] == 700
    assert request["body"]["response_format"] == {"type": "json_object"}
    assert "golden hour" in request["body"]["messages"][1]["content"]
    assert (result.model, result.curator, result.fallback_used) == ("openai/local-curator", "model", False)
    assert (result.prompt_tokens, result.completion_tokens) == (1234, 321)
    texts = [s["text"] for sec in result.sections.values() for s in sec]
    assert "CFG 11 everywhere." not in texts and "Image 77 is the best." not in texts
    assert len(texts) == 4 and len(result.dropped) == 2
    ids = a.asset_ids
    assert result.sections["evolution_notes"][1]["asset_ids"] == [ids[39], ids[40]]
    # priced from what the server reported; a model missing from our table at the default price:
    # (1234 * 5 + 321 * 15) / 1e6 = $0.010985 -> 11 credits
    assert pricing.credits_for(result.model, result.prompt_tokens, result.completion_tokens) == 11
    # the quote counts the same prompt's tokens offline
    assert curator.prompt_tokens(build_prompt(a)) > 200


async def test_failing_model_falls_back(server: dict[str, Any]) -> None:
    a = analyse(session60(), OTHERS)
    curator = ModelCurator(
        "openai/broken", fallback="openai/local-curator", api_base=server["api_base"], api_key="sk-test",
        timeout=10, retries=0, options={"mock_response": "litellm.RateLimitError"}, fallback_options={},
    )  # fmt: skip
    result = await curator.write(a)
    assert result.fallback_used and result.model == "openai/local-curator"
    assert len(server["seen"]) == 1


async def test_failing_model_without_fallback_fails() -> None:
    a = analyse(session60(), OTHERS)
    curator = ModelCurator(
        "openai/broken", timeout=5, retries=0, options={"mock_response": Exception("model down")}
    )
    with pytest.raises(CuratorFailed, match="model down"):
        await curator.write(a)


async def test_answer_that_is_not_json_fails() -> None:
    a = analyse(session60(), OTHERS)
    curator = ModelCurator(
        "openai/chatty", timeout=5, retries=0, options={"mock_response": "I think it is lovely."}
    )
    with pytest.raises(CuratorFailed, match="no JSON"):
        await curator.write(a)


async def test_mocked_answer_grounded_in_facts_is_kept() -> None:
    a = analyse(session60(), OTHERS)
    curator = ModelCurator(
        "openai/mocked", timeout=5, retries=0, options={"mock_response": json.dumps(ANSWER)}
    )
    result = await curator.write(a)
    assert result.sections["summary"][0]["text"].startswith("A lighthouse")


async def test_model_that_does_not_answer_in_time_fails(server: dict[str, Any]) -> None:
    a = analyse(session60(), OTHERS)
    curator = ModelCurator("openai/slow", api_base=server["slow"], api_key="sk-test", timeout=0.5, retries=0)
    started = time.monotonic()
    with pytest.raises(CuratorFailed, match="openai/slow"):
        await curator.write(a)
    assert time.monotonic() - started < 4
