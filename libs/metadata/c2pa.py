"""C2PA (Content Credentials) manifests, read through c2pa-python.

OpenAI, Bing Image Creator, Adobe Firefly and Google Gemini sign their images with a C2PA manifest
store. There is no prompt in it, but it names the generator, the model (``softwareAgent`` of the
``c2pa.created`` action) and the only generation-related time those tools embed (``when`` of that
action, or the RFC 3161 signing time of the manifest holding it).

We report provenance, we do not judge trust: untrusted or expired certificates are normal here
(the validation status stays in ``manifest_store``), and nothing is fetched from the network.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import c2pa as c2pa_sdk

# Every manifest store is a JUMBF box labelled "c2pa"; without these bytes there is nothing to read
# and we skip the Rust reader entirely (the common case: most images carry no manifest).
_JUMBF_LABEL = b"c2pa"

# Offline on purpose: ingest must not make network calls per image, and trust is not our question.
# Offline, and no validation pass after reading: we report what the credentials say (generator,
# actions, times), we do not certify them, and validation hashes the whole asset (3-4x the read
# time on the corpus). The manifest store is kept raw, so a later job can validate stored assets.
_OFFLINE_SETTINGS = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_after_reading": False}
}

_CREATED_ACTION = "c2pa.created"

# Tool identification: case-insensitive substrings, checked field by field (claim generator first,
# then softwareAgent, then signer), so that Firefly hosting a third-party model still counts as Firefly.
_TOOL_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "bing_image_creator",
        ("microsoft_responsible_ai", "microsoft responsible ai", "image creator from designer"),
    ),
    ("openai", ("openai", "chatgpt", "dall·e", "dall-e", "dalle", "gpt-4o", "gpt-image", "sora")),
    ("firefly", ("adobe_firefly", "adobe firefly")),
    ("google_gemini", ("google c2pa core generator library", "google generative ai")),
)


class C2paError(Exception):
    """A C2PA manifest is present in the image but could not be read."""


@dataclass
class C2paInfo:
    tool: str | None
    model: str | None
    claim_generator: str | None
    issuer: str | None
    created_when: datetime | None
    signed_at: datetime | None
    actions: list[dict[str, Any]] = field(default_factory=list)
    ingredients: list[dict[str, Any]] = field(default_factory=list)
    digital_source_type: str | None = None
    manifest_store: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "model": self.model,
            "claim_generator": self.claim_generator,
            "issuer": self.issuer,
            "created_when": self.created_when.isoformat() if self.created_when else None,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "actions": self.actions,
            "ingredients": self.ingredients,
            "digital_source_type": self.digital_source_type,
            "manifest_store": self.manifest_store,
        }


def read_c2pa(data: bytes, mime_type: str) -> C2paInfo | None:
    """Read the C2PA manifest store embedded in an image.

    Returns None when the image has no manifest. Raises C2paError when a manifest is present but
    cannot be parsed (truncated file, corrupted JUMBF).
    """
    if _JUMBF_LABEL not in data:
        return None
    store = _read_store(data, mime_type)
    if store is None:
        return None
    return info_from_store(store)


def info_from_store(store: dict[str, Any]) -> C2paInfo | None:
    """Interpret a manifest store as returned by ``c2pa.Reader.json()`` (kept public so that a
    stored ``manifest_store`` can be re-read without the image)."""
    manifests = store.get("manifests")
    if not isinstance(manifests, dict) or not manifests:
        return None
    ordered = _manifests_oldest_first(store.get("active_manifest"), manifests)

    generation = _generation_manifest(ordered)
    created = _created_action(generation) if generation else None
    signature = _dict(generation.get("signature_info")) if generation else {}

    return C2paInfo(
        tool=_identify_tool(generation, created, signature) if generation else None,
        model=_model(ordered, created),
        claim_generator=_claim_generator(generation) if generation else None,
        issuer=_str(signature.get("issuer")),
        created_when=_parse_time(created.get("when")) if created else None,
        signed_at=_parse_time(signature.get("time")),
        actions=[
            {**action, "manifest": label} for label, manifest in ordered for action in _actions(manifest)
        ],
        ingredients=[
            {key: value for key, value in ingredient.items() if key != "validation_results"}
            | {"manifest": label}
            for label, manifest in ordered
            for ingredient in _list(manifest.get("ingredients"))
            if isinstance(ingredient, dict)
        ],
        digital_source_type=_digital_source_type(generation, created) if generation else None,
        manifest_store=store,
    )


_context: c2pa_sdk.Context | None = None


def _offline_context() -> c2pa_sdk.Context:
    # Built once: creating a Context costs more than reading a small manifest.
    global _context
    if _context is None:
        _context = c2pa_sdk.Context(c2pa_sdk.Settings.from_dict(_OFFLINE_SETTINGS))
    return _context


def _read_store(data: bytes, mime_type: str) -> dict[str, Any] | None:
    try:
        # The SDK reconciles the given type with the bytes, so a PNG named .jpeg still reads.
        reader = c2pa_sdk.Reader.try_create(mime_type or None, io.BytesIO(data), context=_offline_context())
        if reader is None:
            return None
        with reader:
            text = reader.json()
    except c2pa_sdk.C2paError as error:
        # An unsupported container cannot hold a manifest the SDK could read: same as none.
        if isinstance(error, (c2pa_sdk.C2paError.NotSupported, c2pa_sdk.C2paError.ManifestNotFound)):
            return None
        raise C2paError(f"C2PA manifest present but unreadable ({mime_type}): {error}") from error
    try:
        store = json.loads(text)
    except ValueError as error:
        raise C2paError(f"c2pa-python returned invalid JSON: {error}") from error
    return store if isinstance(store, dict) else None


def _manifests_oldest_first(active: Any, manifests: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Walk from the active manifest down through its ingredients, then reverse: the generation
    manifest (the one that has no ingredient manifest) comes first. Manifests not reachable from the
    active one are appended in store order."""
    chain: list[str] = []
    pending = [active] if isinstance(active, str) else []
    while pending:
        label = pending.pop(0)
        if label in chain or not isinstance(manifests.get(label), dict):
            continue
        chain.append(label)
        for ingredient in _list(manifests[label].get("ingredients")):
            if isinstance(ingredient, dict) and isinstance(ingredient.get("active_manifest"), str):
                pending.append(ingredient["active_manifest"])
    chain.reverse()
    chain += [
        label for label, manifest in manifests.items() if label not in chain and isinstance(manifest, dict)
    ]
    return [(label, manifests[label]) for label in chain]


def _generation_manifest(ordered: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    """The manifest holding ``c2pa.created``; without one (newer Firefly uses ``c2pa.opened`` with a
    digital-source-type parameter) the oldest manifest of the chain, where the image began."""
    for _, manifest in ordered:
        if _created_action(manifest):
            return manifest
    return ordered[0][1] if ordered else None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for assertion in _list(manifest.get("assertions")):
        if not isinstance(assertion, dict) or not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        data = _dict(assertion.get("data"))
        found += [action for action in _list(data.get("actions")) if isinstance(action, dict)]
    return found


def _created_action(manifest: dict[str, Any]) -> dict[str, Any] | None:
    return next((a for a in _actions(manifest) if a.get("action") == _CREATED_ACTION), None)


def _software_agent(action: dict[str, Any]) -> str | None:
    agent = action.get("softwareAgent")
    if isinstance(agent, dict):
        agent = agent.get("name")
    return _str(agent)


def _model(ordered: list[tuple[str, dict[str, Any]]], created: dict[str, Any] | None) -> str | None:
    if created and _software_agent(created):
        return _software_agent(created)
    for _, manifest in ordered:
        action = _created_action(manifest)
        if action and _software_agent(action):
            return _software_agent(action)
    return None


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    # Claim v1 has a free-text claim_generator; claim v2 (GPT-4o, Google) only claim_generator_info.
    if _str(manifest.get("claim_generator")):
        return _str(manifest.get("claim_generator"))
    for info in _list(manifest.get("claim_generator_info")):
        if isinstance(info, dict) and _str(info.get("name")):
            return _str(info.get("name"))
    return None


def _identify_tool(
    manifest: dict[str, Any], created: dict[str, Any] | None, signature: dict[str, Any]
) -> str | None:
    texts: list[str | None] = [manifest.get("claim_generator")]
    texts += [
        info.get("name") for info in _list(manifest.get("claim_generator_info")) if isinstance(info, dict)
    ]
    if created:
        texts += [_software_agent(created), created.get("description")]
    texts += [signature.get("issuer"), signature.get("common_name")]
    for text in texts:
        if not isinstance(text, str):
            continue
        lowered = text.lower()
        for tool, markers in _TOOL_MARKERS:
            if any(marker in lowered for marker in markers):
                return tool
    return None


def _digital_source_type(manifest: dict[str, Any], created: dict[str, Any] | None) -> str | None:
    candidates = [created] if created else []
    candidates += _actions(manifest)
    for action in candidates:
        if _str(action.get("digitalSourceType")):
            return _str(action.get("digitalSourceType"))
        # Firefly's c2pa.opened keeps the source type in an Adobe-specific parameter.
        value = _dict(action.get("parameters")).get("com.adobe.digitalSourceType")
        if _str(value):
            return _str(value)
    return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
