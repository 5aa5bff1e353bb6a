from __future__ import annotations

from libs.common.settings import CommonSettings


class ReflectionSettings(CommonSettings):
    service_name: str = "reflection"
    http_port: int = 8004
    # the curator's model as litellm names it ("openai/gpt-4o-mini", "openai/local" with an api_base...);
    # unset: the built-in curator writes reflections from the facts alone (offline, a small fixed price)
    reflection_model: str | None = None
    reflection_fallback_model: str | None = None
    # an OpenAI-compatible server (a local model server) and its key, for the model and the fallback
    reflection_api_base: str | None = None
    reflection_api_key: str | None = None
    reflection_timeout_seconds: float = 60.0
    reflection_retries: int = 2
    # a batch waits on the model (timeout x tries, then the fallback's): not "stuck" before that
    consumer_stuck_seconds: float = 420.0
    # the answer we allow (the model's max_tokens): priced in every quote
    reflection_answer_tokens: int = 800
    reflection_quote_ttl_seconds: int = 900
    reflection_min_images: int = 50
    # sessions of more images are analysed from an even sample of this many
    reflection_max_images: int = 2000
    # perceptual hash, sharpness and exposure from each image's card thumbnail (the object store)
    reflection_thumbnail_features: bool = True
