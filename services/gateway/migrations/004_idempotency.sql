-- The answers of public POSTs that take an `Idempotency-Key` (a paid reflection today), as Stripe keeps
-- them: the first successful answer is stored with a digest of what was asked, and the same key again
-- gets that answer; the same key with another request is refused (409). Refusals (a 402 for want of
-- credits) are not stored, so the person can buy credits and send the same key again.
CREATE TABLE idempotency_keys (
    tenant_id uuid NOT NULL,
    key text NOT NULL,
    operation text NOT NULL,
    request_digest text NOT NULL,
    status_code int NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
