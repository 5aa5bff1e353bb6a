"""`atelier admin ...`: the server's account commands (create-account, list-accounts, reset-password,
disable-account), run as `python -m services.gateway.accounts.admin` in a child process.

They belong to the gateway (they use its password rules and its database), and `libs/` never
imports `services/`; so this module only hands the arguments over, by module name, to the same
Python. See services/gateway/accounts/admin.py for the commands themselves.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

SERVER_MODULE = "services.gateway.accounts.admin"


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "admin",
        help="accounts, on the server: create-account, list-accounts, reset-password, disable-account, grant",
        add_help=False,  # `atelier admin --help` is the server command's own help
    )
    parser.add_argument("-h", "--help", action="store_true", dest="server_help", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.args[:1] == ["replay-dlq"]:  # dead letters back to their topic: libs/cli/dead_letters.py
        return int(importlib.import_module("libs.cli.dead_letters").run(args.args[1:]))
    if importlib.util.find_spec("services") is None:
        print(
            "atelier admin runs where the server is installed (the services/ package is not here)",
            file=sys.stderr,
        )
        return 1
    if args.args[:1] in (["restore-workspace"], ["export-workspace"]):  # libs/cli/workspace_backup.py
        return int(importlib.import_module("libs.cli.workspace_backup").run(args.args))
    return subprocess.call(
        [sys.executable, "-m", SERVER_MODULE, *(["--help"] if args.server_help else []), *args.args]
    )
