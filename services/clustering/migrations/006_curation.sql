-- Curation (issue 14): lineage edges, stacks of variations, the person's stack edits, picks and rejects.
-- Clustering keeps them next to the sessions they belong to (services/clustering/curation*.py).

-- What each imported asset brings to lineage (the `LineageFacts` of its asset.imported, plus the event's
-- fields the rules compare), so the rules can run again over stored assets: a parent that arrives after
-- its child, a session whose stacks are recomputed. Untimed assets are here too (no session, but lineage).
CREATE TABLE asset_facts (
    asset_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    generated_at timestamptz,
    tool text,
    prompt text,
    model text,
    width integer,
    height integer,
    negative_prompt text,
    loras text[] NOT NULL DEFAULT '{}',
    seed bigint,              -- NULL when the seed does not fit a bigint (ComfyUI's go to 2^64): see `facts`
    sampler text,
    steps integer,
    cfg real,
    facts jsonb NOT NULL,     -- LineageFacts as the event carried it
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX asset_facts_tenant ON asset_facts (tenant_id);

-- The keys an asset is stored under (libs.lineage.linking.index_keys: its own keys such as sha256:/file:/c2pa:,
-- and similarity keys such as a prompt or perceptual-hash band): a new asset fetches only the assets holding
-- one of its lookup keys, the similarity ones no farther than NEAR in time.
CREATE TABLE lineage_keys (
    tenant_id uuid NOT NULL,
    key text NOT NULL,
    asset_id uuid NOT NULL,
    generated_at timestamptz,
    PRIMARY KEY (tenant_id, key, asset_id)
);
CREATE INDEX lineage_keys_near ON lineage_keys (tenant_id, key, generated_at);

-- The keys an asset's references name (its parents' keys): a parent imported after its child finds the
-- child here.
CREATE TABLE lineage_references (
    tenant_id uuid NOT NULL,
    key text NOT NULL,
    asset_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, key, asset_id)
);

CREATE TABLE lineage_edges (
    tenant_id uuid NOT NULL,
    parent_id uuid NOT NULL,
    child_id uuid NOT NULL,
    relation text NOT NULL,
    rule text NOT NULL,
    evidence text NOT NULL,
    confidence real NOT NULL,
    explicit boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, parent_id, child_id)
);
CREATE INDEX lineage_edges_child ON lineage_edges (tenant_id, child_id);

-- A session's stacks, singletons included: every member of a session in exactly one row. Rewritten per
-- session when its members, edges, flags or the stack edits change; a stack never spans two sessions.
CREATE TABLE stacks (
    tenant_id uuid NOT NULL,
    stack_id uuid NOT NULL,
    session_id uuid NOT NULL,
    cover_asset_id uuid NOT NULL,
    asset_ids uuid[] NOT NULL,   -- generation order
    manual boolean NOT NULL,
    reason text NOT NULL,
    first_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, stack_id)
);
CREATE INDEX stacks_session ON stacks (tenant_id, session_id, first_at, stack_id);

-- Picks and rejects: the person's word, per asset. No row = no flag.
CREATE TABLE flags (
    tenant_id uuid NOT NULL,
    asset_id uuid NOT NULL,
    flag text NOT NULL CHECK (flag IN ('pick', 'reject')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, asset_id)
);
CREATE INDEX flags_tenant_flag ON flags (tenant_id, flag);

-- The person's stack edits (libs.lineage.stacks.StackEdits), per tenant like the session edits
-- (cuts_before / joins): replayed by every recompute, so they outlive later imports.
ALTER TABLE tenant_state ADD COLUMN stack_detached text[] NOT NULL DEFAULT '{}';
ALTER TABLE tenant_state ADD COLUMN stack_groups jsonb NOT NULL DEFAULT '[]';

-- The read contract for the gateway.
CREATE VIEW lineage_links AS
    SELECT tenant_id, parent_id, child_id, relation, rule, evidence, confidence, explicit, created_at
    FROM lineage_edges;

CREATE VIEW session_stacks AS
    SELECT tenant_id, session_id, stack_id, cover_asset_id, asset_ids, cardinality(asset_ids) AS size, manual,
           reason, first_at
    FROM stacks;

CREATE VIEW asset_flags AS
    SELECT tenant_id, asset_id, flag, updated_at FROM flags;

-- A session's members with the facts the change strip compares. Assets imported before curation have no
-- facts row: their lineage columns are NULL. `lineage` (last, beyond the agreed columns) is the whole
-- LineageFacts JSON, for a seed past bigint or anything else the columns leave out.
CREATE VIEW member_facts AS
    SELECT m.tenant_id, m.session_id, m.asset_id, m.generated_at, m.tool, m.prompt, f.negative_prompt, m.model,
           coalesce(f.loras, '{}') AS loras, f.seed, f.sampler, f.steps, f.cfg, f.width, f.height,
           f.facts AS lineage
    FROM members m
    LEFT JOIN asset_facts f ON f.asset_id = m.asset_id AND f.tenant_id = m.tenant_id
    WHERE m.session_id IS NOT NULL;
