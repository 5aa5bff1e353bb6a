"""`atelier admin restore-workspace TENANT --from EXPORT.zip`: bring one workspace back from its export
(`GET /api/v1/export`, the Settings page's "Download my library"); `atelier admin export-workspace TENANT
--to EXPORT.zip`: write that export from the database the settings name (a point-in-time restore on a
scratch instance, say), with no gateway running.

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

# the command -> the server module that is it
SERVER_MODULES = {
    "restore-workspace": "services.gateway.export.restore",
    "export-workspace": "services.gateway.export.dump",
}


def run(argv: list[str]) -> int:
    """`argv`: the command (a key of SERVER_MODULES) and its arguments."""
    if importlib.util.find_spec("services") is None:
        print(
            f"atelier admin {argv[0]} runs where the server is installed (the services/ package is not here)",
            file=sys.stderr,
        )
        return 1
    return subprocess.call([sys.executable, "-m", SERVER_MODULES[argv[0]], *argv[1:]])
