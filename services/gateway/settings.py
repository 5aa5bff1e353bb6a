from __future__ import annotations

from libs.common.settings import CommonSettings


class GatewaySettings(CommonSettings):
    service_name: str = "gateway"
    http_port: int = 8000
    # a demo tenant for one-machine runs; production turns it off (deploy/k8s/base/gateway.yaml)
    demo_tenant: bool = True
    # the demo tenant's API token; when unset, a new one is made and printed at start-up
    demo_token: str | None = None
    # the ingest service's internal API (connected folders are registered there)
    ingest_url: str = "http://127.0.0.1:8001"
    # POST /api/v1/assets, one image file: a larger one is answered `rejected` ("file too large") while the
    # other files of the request go on; its bytes are counted as they stream and never kept past the limit.
    # A zip is not held to this (its entries are, by zip_max_entry_bytes); only to max_request_bytes.
    max_upload_bytes: int = 200 * 1024 * 1024
    # POST /api/v1/assets, the whole request body (ATELIER_MAX_REQUEST_BYTES): a declared Content-Length over
    # it is answered 413 before a byte of the body is read, and a chunked body is cut off with 413 as soon
    # as it passes it, with nothing staged. The default takes a 2 GiB zip plus the multipart framing.
    max_request_bytes: int = 2 * 1024 * 1024 * 1024 + 64 * 1024 * 1024
    # POST /api/v1/assets, files per request (more is a 413: send them in several requests)
    max_upload_files: int = 1000
    # where an upload's file parts and zip entries are spooled while a request is handled (temporary files
    # the system deletes as soon as they are closed, even if the process dies); unset: the system temp dir.
    # Needs room for max_request_bytes per request in flight, plus one batch of zip entries.
    upload_spool_dir: str | None = None
    # an upload refuses at once (503, Retry-After) while the object store or the broker is unreachable; it
    # asks them at most once per this many seconds and reuses the answer in between
    dependency_check_seconds: float = 1.0
    # an upload answers once the pipeline has imported its files, or after this many seconds
    # (files the pipeline has not confirmed by then are reported `queued`: staged, not yet imported)
    upload_wait_seconds: float = 15.0
    # clustering's internal API (session splits, merges, the tenant's gap), ATELIER_CLUSTERING_URL
    clustering_url: str = "http://127.0.0.1:8002"
    # the credits service's internal API (balances, the ledger, purchases), ATELIER_CREDITS_URL
    credits_url: str = "http://127.0.0.1:8003"
    # the reflection service's internal API (quotes, reflections), ATELIER_REFLECTION_URL
    reflection_url: str = "http://127.0.0.1:8004"
    # buying credits: the built-in test provider completes a purchase at once (make run, tests); a
    # deployment without a payment provider turns it off (ATELIER_BILLING_TEST_CHECKOUT=false)
    billing_test_checkout: bool = True
    # the webhook signing secret the test provider signs with (the credits service verifies with the same)
    billing_webhook_secret: str = "whsec_atelier_dev_only"
    # an open event stream (GET /api/v1/events) gets a comment this often, so proxies keep it open
    # and the page notices a dead connection
    live_heartbeat_seconds: float = 15.0
    # ... and is closed after this long (the page reconnects in 3 s): an open page holds up a graceful
    # stop of this replica for at most this long (uvicorn waits for responses in progress)
    live_stream_max_seconds: float = 300.0
    # zip archives in an upload: expanded one entry at a time, each read under these caps.
    # An entry may be as large as a big PNG/TIFF-sized image; anything larger is not an image we import.
    zip_max_entry_bytes: int = 100 * 1024 * 1024
    # the whole archive's decompressed bytes (one request's work stays bounded)
    zip_max_total_bytes: int = 2 * 1024 * 1024 * 1024
    zip_max_entries: int = 10_000
    # deflate tops out near 1032:1; images in a zip rarely pass 10:1 (flat BMPs can reach a few hundred)
    zip_max_ratio: float = 250.0
    # the ratio is judged only once an entry has produced this many bytes
    zip_ratio_floor_bytes: int = 1024 * 1024
    # a JSON sidecar rides inside the `asset.uploaded` event, so it stays small
    zip_max_sidecar_bytes: int = 64 * 1024
    # archive entries are staged this many at a time (or fewer when their bytes reach the second limit);
    # each entry waits in its own temporary file (upload_spool_dir), never in memory, so these bound the
    # open files and the disk a request holds before its batch goes to S3
    zip_stage_batch_files: int = 64
    zip_stage_batch_bytes: int = 256 * 1024 * 1024
    # Per-workspace upload limits, shared by every replica through PostgreSQL (services/gateway/quotas.py;
    # README "Fair imports"): over one, POST /api/v1/assets answers 429 with Retry-After before reading
    # the body. Generous: they stop one workspace from swamping the rest, not a person importing a library.
    # Upload requests per minute (a minute's worth may come at once); the web page sends 4 files a request.
    upload_requests_per_minute: int = 1200
    # Files staged per minute; a request is let in while a file's worth is left, its files are counted after
    # (a 10,000-entry zip is one request, then the workspace waits for its debt to refill)
    upload_files_per_minute: int = 12_000
    # Files staged and not yet imported (or quarantined): a request beginning over it waits this long
    upload_max_queued_files: int = 10_000
    upload_queued_retry_seconds: int = 15
    # A workspace with this many files waiting, or staged in about the last minute, sends further uploads
    # to the bulk lane (asset.uploaded.bulk), so a large import never delays other workspaces' small ones
    upload_bulk_after_files: int = 100
    # "recently staged" forgets by e in this many seconds (services/gateway/quotas.py)
    upload_recent_seconds: float = 60.0
    # accounts (services/gateway/accounts): our own origin as browsers see it, `https://atelier.example`,
    # when a proxy in front changes the scheme, host or port (ATELIER_PUBLIC_ORIGIN); unset: the request's.
    # Cookie-authenticated changes must come from it (CSRF), and the session cookie is Secure when it is https.
    public_origin: str | None = None
    # how many proxies of ours stand in front and append to X-Forwarded-For (ATELIER_TRUSTED_PROXY_HOPS);
    # 0: the client address is the connection's, and X-Forwarded-For (anyone can send one) is ignored
    trusted_proxy_hops: int = 0
    # a browser session lasts this long from sign-in, whatever its use (a fixed lifetime: no write per request)
    session_days: int = 30
    # sign-in slow-down (services/gateway/accounts/slowdown.py): failures in the window, per email and per
    # address, before each further one doubles the wait, starting from the first wait
    sign_in_window_minutes: int = 15
    sign_in_failures_per_email: int = 5
    sign_in_failures_per_address: int = 20
    sign_in_first_wait_seconds: float = 30.0
