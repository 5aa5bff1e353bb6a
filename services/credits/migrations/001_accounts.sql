-- Balances and the ledger that explains them. Quotes, reservations and settlement come
-- with the credits issue; the tables exist so the service owns its schema from day one.
CREATE TABLE accounts (
    tenant_id uuid PRIMARY KEY,
    balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger (
    entry_id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES accounts (tenant_id),
    amount bigint NOT NULL,
    reason text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_tenant ON ledger (tenant_id, created_at DESC);
