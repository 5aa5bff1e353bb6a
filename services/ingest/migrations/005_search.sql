-- Search and facets for the gateway's gallery (services/gateway/repository.py `assets`, `facets`).
--
-- Full-text search, PostgreSQL's own (no extension: pg_trgm is usual on a managed server but not
-- promised by every embedded/packaged PostgreSQL). `search` is a generated tsvector over the prompt
-- (weight A) and the negative prompt (weight D, so a word the user asked NOT to see ranks far below
-- one they asked for). Config 'simple': prompts are comma-separated tags, artist and LoRA names in any
-- language, not English prose: 'english' would stem names and tags ("anime" -> "anim", "dusty" ->
-- "dusti") and drop stop words a tag can be made of ("the", "over"); 'simple'
-- matches words as written, lower-cased. The gateway asks for whole words (not prefixes: see
-- services/gateway/repository.py `AssetFilter.tsquery` for why), so "fox" does not find "foxes".
--
-- `loras`: the LoRA names an asset uses, from the prompt's `<lora:name:weight>` / `<lyco:...>` tags
-- and from the ComfyUI loaders the metadata reader found (metadata.extra.comfyui.loras[].name), as a
-- bare lower-cased name (no folder, no .safetensors). Generated columns: the ALTER fills existing
-- rows, and every insert (ingest's, the benchmark's COPY) computes them, so no writer can forget them.
CREATE FUNCTION asset_loras(prompt text, metadata jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT name ORDER BY name), '{}')
    FROM (
        SELECT lower(regexp_replace(regexp_replace(t[1], '^.*[\\/]', ''), '\.(safetensors|ckpt|pt|bin)$', '', 'i')) AS name
        FROM regexp_matches(coalesce(prompt, ''), '<(?:lora|lyco):([^:<>]+)(?::[^<>]*)?>', 'gi') AS t
        UNION
        SELECT lower(regexp_replace(regexp_replace(l ->> 'name', '^.*[\\/]', ''), '\.(safetensors|ckpt|pt|bin)$', '', 'i'))
        FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(metadata #> '{extra,comfyui,loras}') = 'array'
                 THEN metadata #> '{extra,comfyui,loras}' ELSE '[]'::jsonb END
        ) AS l
        WHERE jsonb_typeof(l -> 'name') = 'string'
    ) names
    WHERE name <> ''
$$;

ALTER TABLE assets
    ADD COLUMN loras text[] GENERATED ALWAYS AS (asset_loras(prompt, metadata)) STORED,
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(prompt, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, coalesce(negative_prompt, '')), 'D')
    ) STORED;

-- one GIN per searchable set; the tenant is checked on the heap row (a tenant is most of its own matches)
CREATE INDEX assets_search ON assets USING gin (search);
CREATE INDEX assets_loras ON assets USING gin (loras);
-- filters by tool or model, newest first (the gallery's keyset within one value)
CREATE INDEX assets_tenant_model_generated_id ON assets (tenant_id, model, generated_at, asset_id);
CREATE INDEX assets_tenant_tool_generated_id ON assets (tenant_id, tool, generated_at, asset_id);

-- the read contract gains the two columns at its end (a view may only grow)
CREATE OR REPLACE VIEW asset_cards AS
    SELECT asset_id, tenant_id, sha256, filename, source, format, tool, prompt, negative_prompt, seed, model,
           sampler, steps, cfg, width, height, generated_at, timestamp_source, timestamp_precision,
           card_key, detail_key, dominant_colors, metadata, metadata_error, imported_at, loras, search
    FROM assets;
