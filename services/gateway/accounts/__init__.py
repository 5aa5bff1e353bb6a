"""Accounts: people who sign up and sign in, their browser sessions and their API tokens.

The domain is laid out as Polar lays out its own: `schemas` (what the API takes and gives),
`endpoints` (the routes), `service` (the rules), `repository` (the SQL), plus the pure rules that
are unit-tested on their own: `passwords` (strength, argon2), `csrf` (is this request from our own
pages?) and `slowdown` (how long a sign-in that keeps failing must wait). Authentication itself,
the `authenticate` dependency every route uses, stays in services/gateway/auth.py.
"""
