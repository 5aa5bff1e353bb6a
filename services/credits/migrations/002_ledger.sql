-- The credits ledger: double-entry, integer credits, append-only, two-phase reservations.
--
-- Accounts. Per tenant two accounts: `available` (what it may spend now) and `held` (reserved by
-- pending reservations: TigerBeetle's pending amounts, counted against what may be spent, so an
-- overdraw is refused when reserving, never discovered when settling). Two system accounts, shared by
-- all tenants: `issuance` (where granted and purchased credits come from: it goes negative by what was
-- ever issued) and `spent` (where settled credits go).
--
-- Transfers and entries. Every change is one `transfers` row (its kind: grant, purchase, reservation,
-- settlement, release, expiry, adjustment) and two or three `entries` that sum to zero:
--   grant/purchase n:       issuance -n, available +n       adjustment -n: available -n, issuance +n
--   reservation n:          available -n, held +n
--   settlement n of m:      held -m, spent +n, available +(m-n)   (the unspent rest freed at once)
--   release / expiry of m:  held -m, available +m
-- A deferred constraint trigger refuses to commit a transfer whose entries do not sum to zero, and
-- entries can be neither updated nor deleted. An account's balance is the sum of its entries.
--
-- Stored balances. `wallets` keeps each tenant's two balances in one row, so a reservation is one
-- conditional UPDATE under that row's lock (`available >= n` in the WHERE: no lost update, no
-- overdraft), and its CHECK constraints are the last line of defence against a negative balance.
-- The system accounts have no stored balance (a shared row would serialize every tenant); theirs is
-- the sum of their entries. Reconciliation (services/credits/repository.py: `reconcile`, run now and
-- then by the service and by the tests) checks wallets against the entries, `held` against the
-- pending reservations, and that the whole ledger sums to zero.
--
-- Reservations resolve once: settle, release and expiry are each one `UPDATE ... WHERE status =
-- 'pending'`; the row count says who won. Expiry is decided by the database's clock (`now()`).
-- Idempotency keys are per tenant; the request's parameters are stored with the key, so a reuse with
-- other parameters is told apart from a retry. Purchases are idempotent by the provider's event id.

-- the placeholders of 001 were never written to
DROP TABLE IF EXISTS ledger;
DROP TABLE IF EXISTS accounts;

CREATE TABLE wallets (
    tenant_id uuid PRIMARY KEY,
    available bigint NOT NULL DEFAULT 0,
    held bigint NOT NULL DEFAULT 0,
    opened_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT available_never_negative CHECK (available >= 0),
    CONSTRAINT held_never_negative CHECK (held >= 0)
);

CREATE TABLE transfers (
    transfer_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN
        ('grant', 'purchase', 'reservation', 'settlement', 'release', 'expiry', 'adjustment')),
    credits bigint NOT NULL CHECK (credits >= 0),
    reservation_id uuid,
    reason text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transfers_reservation ON transfers (reservation_id) WHERE reservation_id IS NOT NULL;

CREATE TABLE entries (
    entry_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id bigint NOT NULL REFERENCES transfers (transfer_id),
    tenant_id uuid NOT NULL,  -- the tenant the transfer concerns (system accounts' entries too)
    account text NOT NULL CHECK (account IN ('available', 'held', 'issuance', 'spent')),
    amount bigint NOT NULL CHECK (amount <> 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entries_transfer ON entries (transfer_id);
-- a tenant's ledger, newest first, by keyset on entry_id
CREATE INDEX entries_tenant ON entries (tenant_id, entry_id DESC);

CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();
CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();

CREATE FUNCTION entries_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
BEGIN
    SELECT sum(amount) INTO total FROM credits.entries WHERE transfer_id = NEW.transfer_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'transfer % does not balance: its entries sum to %', NEW.transfer_id, total;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER entries_balance AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION entries_balance();

CREATE TABLE reservations (
    reservation_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    idempotency_key text NOT NULL,
    credits bigint NOT NULL CHECK (credits > 0),
    purpose text NOT NULL,
    ttl_seconds integer NOT NULL CHECK (ttl_seconds > 0),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'settled', 'released', 'expired')),
    settled_credits bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    resolved_at timestamptz,
    UNIQUE (tenant_id, idempotency_key),
    CONSTRAINT settled_within_reserved CHECK (settled_credits IS NULL OR settled_credits BETWEEN 0 AND credits),
    CONSTRAINT resolved_once CHECK ((status = 'pending') = (resolved_at IS NULL))
);
-- the reaper's scan: only pending rows, by due time
CREATE INDEX reservations_due ON reservations (expires_at) WHERE status = 'pending';

CREATE TABLE grants (
    grant_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    idempotency_key text NOT NULL,
    credits bigint NOT NULL CHECK (credits <> 0),
    reason text NOT NULL,
    -- set in the transaction that claims the key (claim first, so a racing duplicate waits and then sees it)
    transfer_id bigint REFERENCES transfers (transfer_id),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, idempotency_key)
);

CREATE TABLE purchases (
    provider text NOT NULL,
    provider_event_id text NOT NULL,
    tenant_id uuid NOT NULL,
    pack text NOT NULL,
    credits bigint NOT NULL CHECK (credits > 0),
    amount_minor bigint,
    currency text,
    checkout_id text,
    transfer_id bigint REFERENCES transfers (transfer_id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, provider_event_id)
);
