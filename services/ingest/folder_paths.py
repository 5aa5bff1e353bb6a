"""Which directories a tenant may connect, and which files in them are candidates for import.

A connected folder must lie under one of the allowed roots (`ATELIER_FOLDER_ROOTS`). Both the
requested path and the roots are resolved to real paths first, so neither `..` nor a symlink
can lead out of a root; the resolved path is what gets stored and watched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath


class FolderRefused(Exception):
    """A folder that cannot be connected; `reason` is shown to the user, `status` is the HTTP answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def resolve_folder(requested: str, roots: Sequence[str]) -> Path:
    """The real path of `requested`, if it is a readable directory under an allowed root; else FolderRefused."""
    if not roots:
        raise FolderRefused(
            "connected folders are disabled on this server (ATELIER_FOLDER_ROOTS is not set)", 403
        )
    if not requested or not os.path.isabs(requested):
        raise FolderRefused("the folder must be an absolute path on the server")
    if "\x00" in requested:
        raise FolderRefused("the folder path contains a NUL character")
    resolved = Path(os.path.realpath(requested))
    try:
        # the reasons below quote `requested`, and the real path is stored: both must be text
        requested.encode("utf-8")
        str(resolved).encode("utf-8")
    except UnicodeEncodeError:  # bytes of a name that is not UTF-8, as lone surrogates
        raise FolderRefused(
            "the folder's path is not valid UTF-8 (rename it, or connect a folder above it)"
        ) from None
    real_roots = [Path(os.path.realpath(root)) for root in roots]
    if not any(resolved == root or resolved.is_relative_to(root) for root in real_roots):
        raise FolderRefused(
            f"{requested} is outside the folders this server allows (ATELIER_FOLDER_ROOTS)", 403
        )
    if not resolved.exists():
        raise FolderRefused(f"{requested} does not exist")
    if not resolved.is_dir():
        raise FolderRefused(f"{requested} is not a directory")
    if not os.access(resolved, os.R_OK | os.X_OK):
        raise FolderRefused(f"{requested} is not readable by the server")
    return resolved


# names that are never images worth importing: OS and sync-tool litter, partial downloads
JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})
# `.json` is a sidecar: attached to the image next to it, never an asset of its own
JUNK_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".json")


def is_candidate(relative_path: str) -> bool:
    """Whether a file at this place in a folder may be an image to import (its bytes decide later).

    Hidden files and directories, OS litter, partial downloads and JSON sidecars are not.
    """
    parts = PurePosixPath(relative_path).parts
    if not parts or any(part.startswith(".") for part in parts):
        return False
    name = parts[-1].lower()
    if name in JUNK_NAMES or name.startswith("~$"):
        return False
    return not name.endswith(JUNK_SUFFIXES)
