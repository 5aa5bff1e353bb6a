"""The `atelier` command: one entry point, one module per sub-command.

Each sub-command module exposes `add_parser(subparsers)`, which registers its
arguments and sets `func` to the function that runs it. Adding a command means
adding a module and one line to COMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module name under libs.cli, in the order `atelier --help` lists them
COMMANDS = ["inspect", "sessions", "sync", "admin"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atelier", description="Atelier command-line tools.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"libs.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"libs.cli.{name}":
                raise
            continue  # command not built yet
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
