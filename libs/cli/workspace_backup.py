"""`atelier admin restore-workspace TENANT --from EXPORT.zip`: bring one workspace back from its export
(`GET /api/v1/export`, the Settings page's "Download my library").

The restore is the gateway's (it stages originals and queues `asset.uploaded` as an upload does, and
asks clustering to cut, join, flag and stack as the gateway forwards a person's edits), and `libs/`
never imports `services/`; so, like the account commands (libs/cli/admin.py), this only hands the
arguments to `python -m services.gateway.export.restore` in a child process with the same Python.
See services/gateway/export/restore.py for what it does, and deploy/README.md ("Backups and restore")
for where it fits next to point-in-time recovery.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

COMMAND = "restore-workspace"
SERVER_MODULE = "services.gateway.export.restore"


def run(argv: list[str]) -> int:
    """`argv`: what follows `restore-workspace` on the command line."""
    if importlib.util.find_spec("services") is None:
        print(
            "atelier admin restore-workspace runs where the server is installed (the services/ package is not here)",
            file=sys.stderr,
        )
        return 1
    return subprocess.call([sys.executable, "-m", SERVER_MODULE, *argv])
