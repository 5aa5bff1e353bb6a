"""The export's files, one model per kind of line or entry. The export writes them and the restore
reads them back with the same models, so a file the restore cannot read fails by name, not halfway."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

# bumped when a file's meaning changes; the restore refuses a format it does not know
FORMAT = "atelier-export/1"

WORKSPACE_FILE = "workspace.json"
METADATA_FILE = "metadata.jsonl"
SESSIONS_FILE = "sessions.json"
REFLECTIONS_FILE = "reflections.json"
FLAGS_FILE = "flags.jsonl"
STACKS_FILE = "stacks.jsonl"
LINEAGE_FILE = "lineage.jsonl"
README_FILE = "README.txt"
ORIGINALS_DIR = "originals/"


class ExportedWorkspace(BaseModel):
    """workspace.json: what the export is of, and the workspace's settings."""

    format: str = FORMAT
    tenant_id: uuid.UUID
    workspace: str
    time_zone: str
    gap_minutes: int | None  # the person's session gap; null = automatic
    exported_at: datetime
    asset_count: int
    # the curation files present (their views exist on this server): flags, stacks, lineage
    curation: list[str]


class ExportedAsset(BaseModel):
    """One line of metadata.jsonl: an asset as ingest stored it, and where its original is in the zip."""

    asset_id: uuid.UUID
    sha256: str
    file: str  # originals/<name> in this zip
    filename: str  # the name it was imported under
    source: str | None = None
    format: str | None = None
    tool: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | str | None = None
    model: str | None = None
    sampler: str | None = None
    steps: int | None = None
    cfg: float | None = None
    width: int | None = None
    height: int | None = None
    loras: list[str] = []
    generated_at: datetime | None = None
    timestamp_source: str | None = None
    timestamp_precision: str | None = None
    imported_at: datetime | None = None
    metadata: Any = None  # the stored generation metadata, as read from the file
    metadata_error: str | None = None
    session_id: uuid.UUID | None = None
    flag: Literal["pick", "reject"] | None = None


class ExportedSession(BaseModel):
    """An entry of sessions.json: a live session and its assets in generation order. The person's cuts
    and joins are in the membership itself: the restore makes the same sessions again by cutting and
    joining where the automatic rule differs."""

    session_id: uuid.UUID
    start: datetime
    end: datetime
    asset_count: int
    precision: str
    asset_ids: list[uuid.UUID]


class ExportedReflection(BaseModel):
    """An entry of reflections.json: a completed reflection, its texts and what it cost then."""

    reflection_id: uuid.UUID
    session_id: uuid.UUID  # the session it reflected on, as it is now (after any merge)
    model: str | None = None
    curator: str | None = None
    summary: str | None = None
    summary_statements: Any = None
    style_patterns: Any = None
    evolution_notes: Any = None
    facts: Any = None
    credits_reserved: int | None = None
    credits_charged: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: datetime
    completed_at: datetime | None = None


class ExportedFlag(BaseModel):
    """A line of flags.jsonl: the person's pick or reject of an asset."""

    asset_id: uuid.UUID
    flag: Literal["pick", "reject"]


class ExportedStack(BaseModel):
    """A line of stacks.jsonl: a stack of a session (singletons included); `manual`: the person's edit."""

    session_id: uuid.UUID
    stack_id: uuid.UUID
    cover_asset_id: uuid.UUID
    asset_ids: list[uuid.UUID]
    manual: bool
    reason: str


class ExportedLink(BaseModel):
    """A line of lineage.jsonl: a parent -> child edge, with the rule and evidence that made it."""

    parent_id: uuid.UUID
    child_id: uuid.UUID
    relation: str
    rule: str
    evidence: Any = None
    confidence: float
    explicit: bool


README = """\
Atelier workspace export ({workspace}, exported {exported_at})

Files
  README.txt        this file
  workspace.json    the workspace: name, time zone, session gap (null = automatic), format version
  originals/        every imported image, byte for byte as it was imported (same SHA-256)
  metadata.jsonl    one JSON object per line, one line per image: its id, sha256, the file in
                    originals/, the name it was imported under, the generation metadata read from it
                    (tool, prompt, negative prompt, seed, model, sampler, steps, CFG, LoRAs, size, the
                    whole stored record under "metadata"), its generation time and where that came
                    from, its session and its flag (pick / reject)
  sessions.json     the sessions (your cuts and joins included): each with its time span and its
                    images' ids in generation order
  reflections.json  the completed reflections with their texts (summary, style patterns, evolution
                    notes), the facts they rest on and the credits they cost
{curation}
Ids are UUIDs; times are ISO 8601 in UTC. An operator can bring this export back into a workspace
with `atelier admin restore-workspace WORKSPACE --from this.zip` (images re-imported, then your
session edits, flags, stacks and reflections applied again; running it twice changes nothing).
"""

CURATION_README = {
    FLAGS_FILE: "  flags.jsonl       your picks and rejects, one per line\n",
    STACKS_FILE: "  stacks.jsonl      each session's stacks of variations (manual: stacked or split by you)\n",
    LINEAGE_FILE: "  lineage.jsonl     parent -> child links between images, with the evidence for each\n",
}
