-- People who sign in (issue 10, Accounts). An account owns one workspace (a tenant) for now; its
-- email is unique whatever its case, and its password is kept only as an argon2 hash.
CREATE TABLE accounts (
    account_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    email text NOT NULL,
    name text NOT NULL,
    password_hash text NOT NULL,
    -- a disabled account cannot sign in, and its browser sessions and API tokens stop working
    disabled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_email_lower ON accounts (lower(email));
CREATE INDEX accounts_tenant ON accounts (tenant_id);

-- Browser sessions: the cookie holds a random id, this table only its SHA-256 (a leak of the
-- table does not sign anyone in). Expired rows are refused and pruned on sign-in.
CREATE TABLE browser_sessions (
    session_sha256 bytea PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    account_id uuid REFERENCES accounts (account_id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX browser_sessions_expiry ON browser_sessions (expires_at);

-- API tokens get an id to revoke them by, the first characters to recognise them by, the
-- account that made them, and when they were last used (written at most once a minute).
ALTER TABLE api_tokens
    ADD COLUMN token_id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    ADD COLUMN prefix text NOT NULL DEFAULT '',
    ADD COLUMN account_id uuid REFERENCES accounts (account_id) ON DELETE CASCADE,
    ADD COLUMN last_used_at timestamptz;
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id, created_at);

-- Failed sign-ins, by what they were counted against ('email:<lower email>' or 'address:<ip>'):
-- in the database so every gateway replica sees the same count.
CREATE TABLE sign_in_failures (
    subject text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_subject ON sign_in_failures (subject, failed_at);
