-- Saved searches and share links (issue 10). Every row carries its tenant; reads are scoped by
-- services/gateway/sharing/repository.py (`readable_saved_searches`, `readable_share_links`).

-- A named gallery query (`{"q", "tool", "model", ...}`), unique by name within a workspace.
CREATE TABLE saved_searches (
    search_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    name text NOT NULL,
    query jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

-- A link that shows one session, read-only, to whoever has it. Only the token's SHA-256 is kept
-- (a leak of the table opens nothing) and its first characters, to recognise it in a list.
-- `session_id` is the id it was made for; a merged-away id is followed to the survivor on read.
-- Revoking deletes the row: the link is refused at once.
CREATE TABLE share_links (
    share_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    session_id uuid NOT NULL,
    token_sha256 bytea NOT NULL UNIQUE,
    prefix text NOT NULL,
    show_prompts boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX share_links_session ON share_links (tenant_id, session_id, created_at);
