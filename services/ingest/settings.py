from __future__ import annotations

from libs.common.settings import CommonSettings


class IngestSettings(CommonSettings):
    service_name: str = "ingest"
    http_port: int = 8001
    # events per consumer batch: each one is CPU work done inside the batch's transaction
    ingest_batch_size: int = 8
    # images larger than this many pixels are refused as decompression bombs
    max_image_pixels: int = 80_000_000
    card_size: int = 384
    detail_size: int = 1280
