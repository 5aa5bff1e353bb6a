"""Credits as a person sees them: the balance, its history, the packs on offer, and the payment provider's
webhook, all answered by the credits service (which owns every balance) through its internal API."""
