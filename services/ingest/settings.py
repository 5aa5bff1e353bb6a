from __future__ import annotations

from libs.common.settings import CommonSettings


class IngestSettings(CommonSettings):
    service_name: str = "ingest"
    http_port: int = 8001
    # events per consumer batch: each one is CPU work done inside the batch's transaction
    ingest_batch_size: int = 8
    # images larger than this many pixels are refused as decompression bombs, before decoding (the only
    # pixel limit: Pillow's own is set to it). The largest image decoded takes 3 bytes per pixel (240 MB)
    max_image_pixels: int = 80_000_000
    # PNG text chunks (Pillow's PngImagePlugin.MAX_TEXT_CHUNK / MAX_TEXT_MEMORY, set by imaging.configure_pillow):
    # the bytes one zTXt/iTXt chunk may inflate to, and all text chunks of one file together. Pillow's default
    # of 1 MB per chunk refused real ComfyUI files (a large workflow is 2 MB and more); a file over either
    # limit is refused as a decompression bomb
    max_png_text_chunk_bytes: int = 16 * 1024 * 1024
    max_png_text_total_bytes: int = 64 * 1024 * 1024
    card_size: int = 384
    detail_size: int = 1280
    # connected folders: the directories under which a tenant may register one, separated by ":";
    # empty means connected folders are disabled
    folder_roots: str = ""
    # a file counts as completely written once its size and mtime stay the same this long
    folder_settle_seconds: float = 1.0
    # poll instead of inotify: needed for NAS mounts (NFS, SMB), where change notifications do not arrive
    folder_force_polling: bool = False
    folder_poll_delay_ms: int = 1000
    # how often a watcher looks for folders nobody watches (new, or left by a replica that died)
    folder_refresh_seconds: float = 10.0
    # how long a folder in error (missing, unreadable) waits before the next try
    folder_retry_seconds: float = 30.0
    folder_max_file_bytes: int = 200 * 1024 * 1024

    @property
    def folder_root_paths(self) -> list[str]:
        return [root for root in self.folder_roots.split(":") if root.strip()]
