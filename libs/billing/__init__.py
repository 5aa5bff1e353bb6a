"""Payment webhooks signed the way Stripe signs them, shared by the credits service (which verifies them,
services/credits/billing.py) and the gateway's built-in test checkout (which signs one as a provider
would, so `make run` can buy credits without a payment provider):

    Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Stripe-Signature"


def stripe_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a provider sends for `body` signed at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
