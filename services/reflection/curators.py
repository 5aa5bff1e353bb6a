"""The curators the worker runs: the built-in one (facts alone, offline, the default) and the model
named by configuration, called through litellm with a timeout, retries and a fallback model.

litellm is imported lazily (~2 s and ~380 MB) and only after `LITELLM_LOCAL_MODEL_COST_MAP=True`, so
it never reaches for the network at import.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import Counter

from libs.reflection import pricing
from libs.reflection.analysis import Analysis
from libs.reflection.curator import build_prompt, builtin_reflection, validate

log = logging.getLogger(__name__)

FALLBACKS = Counter(
    "atelier_reflection_curator_fallbacks_total",
    "Curator calls that fell back from the configured model to the fallback model",
    ["model", "fallback"],
)
DROPPED = Counter(
    "atelier_reflection_statements_dropped_total",
    "Model statements dropped by validation (an unknown image or a number not in the facts)",
    ["model"],
)


class CuratorFailed(Exception):
    """The model (and its fallback) could not write a reflection; the reason is for the event."""


@dataclass(frozen=True)
class CuratorResult:
    sections: dict[str, list[dict[str, Any]]]
    model: str  # the model that wrote it (the fallback's name when it did)
    curator: str  # "builtin" or "model"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)
    fallback_used: bool = False


class Curator(Protocol):
    model: str
    answer_tokens: int

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int: ...

    async def write(self, analysis: Analysis) -> CuratorResult: ...


class BuiltinCurator:
    """Writes from the facts alone: no tokens, a small fixed price (pricing.BUILTIN_CREDITS)."""

    model = pricing.BUILTIN_MODEL
    answer_tokens = 0

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return 0

    async def write(self, analysis: Analysis) -> CuratorResult:
        return CuratorResult(builtin_reflection(analysis), model=self.model, curator="builtin")


def litellm_module() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


def parse_answer(content: str) -> dict[str, Any]:
    text = _FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the answer holds no JSON object")
    value = json.loads(text[start : end + 1])
    if not isinstance(value, dict):
        raise ValueError("the answer is not a JSON object")
    return value


class ModelCurator:
    """The configured model through litellm: `timeout` per call, `retries` (litellm's num_retries), then
    the fallback model once the first is exhausted. `options` go to every call (tests pass litellm's
    `mock_response` there)."""

    def __init__(
        self,
        model: str,
        *,
        fallback: str | None = None,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        answer_tokens: int = 800,
        options: dict[str, Any] | None = None,
        fallback_options: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self.api_base = api_base
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.answer_tokens = answer_tokens
        self.options = options or {}
        self.fallback_options = fallback_options if fallback_options is not None else self.options

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return int(litellm_module().token_counter(model=self.model, messages=messages))

    async def _call(
        self, model: str, messages: list[dict[str, str]], options: dict[str, Any]
    ) -> tuple[dict[str, Any], int, int]:
        litellm = litellm_module()
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "timeout": self.timeout,
            "num_retries": self.retries,
            "max_tokens": self.answer_tokens,
            "temperature": 0.2,
            "response_format": {"type": "json_object"},
            **options,
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        response = await litellm.acompletion(**kwargs)
        usage = getattr(response, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        content = response.choices[0].message.content or ""
        return parse_answer(content), prompt, completion

    async def write(self, analysis: Analysis) -> CuratorResult:
        messages = build_prompt(analysis)
        attempts = [(self.model, self.options)]
        if self.fallback:
            attempts.append((self.fallback, self.fallback_options))
        reasons: list[str] = []
        for n, (model, options) in enumerate(attempts):
            if n:
                FALLBACKS.labels(self.model, model).inc()
                log.warning(
                    "curator falls back", extra={"model": self.model, "fallback": model, "why": reasons[-1]}
                )
            try:
                answer, prompt, completion = await self._call(model, messages, options)
            except (
                Exception
            ) as exc:  # the provider's errors are many; each one means: this model did not answer
                reasons.append(f"{model}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            checked = validate(answer, analysis)
            if checked.dropped:
                DROPPED.labels(model).inc(len(checked.dropped))
            if not any(checked.sections.values()):
                reasons.append(f"{model}: no statement grounded in the facts")
                continue
            return CuratorResult(
                checked.sections,
                model=model,
                curator="model",
                prompt_tokens=prompt,
                completion_tokens=completion,
                dropped=checked.dropped,
                fallback_used=n > 0,
            )
        raise CuratorFailed("; ".join(reasons))


def from_settings(settings: Any) -> Curator:
    if not settings.reflection_model:
        return BuiltinCurator()
    return ModelCurator(
        settings.reflection_model,
        fallback=settings.reflection_fallback_model,
        api_base=settings.reflection_api_base,
        api_key=settings.reflection_api_key,
        timeout=settings.reflection_timeout_seconds,
        retries=settings.reflection_retries,
        answer_tokens=settings.reflection_answer_tokens,
    )
