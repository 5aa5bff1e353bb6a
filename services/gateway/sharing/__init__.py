"""Saved searches and share links: a workspace's named gallery queries, and read-only links that show
one session to anyone who has them.

Laid out as services/gateway/accounts: `schemas` (what the routes take and give), `endpoints` (the
routes: `/api/v1/searches`, `/api/v1/sessions/{id}/share(s)`, `/api/v1/shares/{id}` for the owner,
and the public `/s/{token}...` reads), `service` (the rules), `repository` (the SQL, every read of
the tables scoped by a `readable_*` statement).
"""
