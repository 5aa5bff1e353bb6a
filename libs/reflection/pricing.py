"""What a reflection costs, in credits.

The rule (for the README):

    A quote prices the curator's prompt for this session (its tokens, counted with the configured
    model's tokenizer) plus the answer we allow (`expected answer tokens`, also the model's
    `max_tokens`) at that model's price per million input and output tokens, from our own price
    table (PRICES, USD). One credit is worth USD_PER_CREDIT (a tenth of a cent): credits =
    ceil(cost / USD_PER_CREDIT), at least MIN_CREDITS. The built-in curator (no model configured)
    costs a fixed BUILTIN_CREDITS. A model missing from the table is priced at DEFAULT_PRICE.

    Settlement prices the tokens the model actually used (prompt and answer, from its usage report,
    fallback model included) by the same rule and charges min(that, the quote, the reservation):
    never more than the person saw. The built-in curator settles its fixed price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    input_per_million: float  # USD per 1M prompt tokens
    output_per_million: float  # USD per 1M completion tokens


USD_PER_CREDIT = 0.001
MIN_CREDITS = 1
BUILTIN_CREDITS = 2
BUILTIN_MODEL = "builtin"
DEFAULT_PRICE = Price(5.0, 15.0)

# keyed by the model name as configured, with or without the provider prefix
PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.5, 10.0),
    "gpt-4o-mini": Price(0.15, 0.6),
    "gpt-4.1": Price(2.0, 8.0),
    "gpt-4.1-mini": Price(0.4, 1.6),
    "gpt-4.1-nano": Price(0.1, 0.4),
    "claude-3-5-haiku-latest": Price(0.8, 4.0),
    "claude-sonnet-4-5": Price(3.0, 15.0),
    "gemini-2.0-flash": Price(0.1, 0.4),
    # a model served on our own machines (an OpenAI-compatible server): its running cost, roughly
    "local": Price(0.2, 0.2),
}


def price_of(model: str, table: dict[str, Price] | None = None) -> Price:
    table = PRICES if table is None else table
    if model in table:
        return table[model]
    bare = model.split("/", 1)[-1]
    return table.get(bare, DEFAULT_PRICE)


def cost_usd(
    model: str, prompt_tokens: int, completion_tokens: int, table: dict[str, Price] | None = None
) -> float:
    p = price_of(model, table)
    return (prompt_tokens * p.input_per_million + completion_tokens * p.output_per_million) / 1_000_000


def credits_for(
    model: str, prompt_tokens: int, completion_tokens: int, table: dict[str, Price] | None = None
) -> int:
    """The credits for this many tokens on this model (see the rule above)."""
    if model == BUILTIN_MODEL:
        return BUILTIN_CREDITS
    usd = cost_usd(model, prompt_tokens, completion_tokens, table)
    # round() first: 0.0155 / 0.001 is 15.500000000000002 in floating point
    return max(MIN_CREDITS, math.ceil(round(usd / USD_PER_CREDIT, 6)))


def settlement(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    quoted: int,
    reserved: int,
    table: dict[str, Price] | None = None,
) -> int:
    """The credits to settle for tokens actually used: never above the quote nor the reservation."""
    return max(0, min(credits_for(model, prompt_tokens, completion_tokens, table), quoted, reserved))
