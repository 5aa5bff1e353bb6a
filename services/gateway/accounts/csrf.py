"""Is a state-changing request from our own pages? OWASP's recommended check for cookie sessions.

A browser sends the session cookie with any request to us, including one a foreign page makes it
send (a form posting to /api/v1/...). SameSite=Lax already keeps the cookie off cross-site POSTs in
current browsers; on top of it, a POST, PUT, PATCH or DELETE carrying the cookie must say where it
comes from, in `Origin` (every current browser sends it on such requests), or, without one, in
`Referer`, and that must be the site itself: the request's own scheme, host and port, or
`ATELIER_PUBLIC_ORIGIN` when a proxy in front changes them. A request saying neither is refused:
we cannot tell it is ours. Requests with an API token (`Authorization: Bearer`) are not checked:
a browser never adds that header by itself, so a foreign page cannot make one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL or an Origin value, normalised (lower case, default port
    dropped); None for anything that is not an http(s) origin (including Origin: null)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[scheme] else "")


def refusal(method: str, origin: str | None, referer: str | None, site: str) -> str | None:
    """Why a cookie-authenticated request must be refused (403), or None when it may go on.
    `site` is our own origin (see `origin_of`)."""
    if method.upper() in SAFE_METHODS:
        return None
    claimed = origin if origin is not None else referer
    if claimed is None:
        return "a request that changes something must carry an Origin or Referer header from this site"
    if origin_of(claimed) != origin_of(site):
        return "cross-site request refused: its Origin is not this site"
    return None
