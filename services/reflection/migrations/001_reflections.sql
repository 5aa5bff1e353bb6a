-- Reflections on a session, written by the curator model. Requests, settlement and the
-- model call come with the reflection issue.
CREATE TABLE reflections (
    reflection_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    session_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'requested',
    summary text,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX reflections_session ON reflections (tenant_id, session_id);
