"""Generation metadata of AI images: which tool, prompt, parameters, and when.

Public API (what the ingest service and the CLI use):

    read_generation(data, filename=..., folder=..., file_mtime=..., tenant_tz=..., sidecar=...)
    read_generation_file(path, tenant_tz=...)
    GenerationRecord, MetadataError

Module map: containers/exif/xmp (bytes → metadata blocks), a1111/stealth/formats (blocks →
tool fields), comfyui/c2pa (graph tracing, content credentials), timestamps (the time ladder),
reader (the pipeline).
"""

from .reader import read_generation, read_generation_file
from .record import GenerationRecord, MetadataError

__all__ = ["GenerationRecord", "MetadataError", "read_generation", "read_generation_file"]
