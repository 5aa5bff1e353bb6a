"""`atelier admin`: the operator's account commands, run on the server side against the database.

    atelier admin create-account --email ada@example.com --name Ada [--password ...]
    atelier admin list-accounts
    atelier admin reset-password --email ada@example.com [--password ...]
    atelier admin disable-account --email ada@example.com
    atelier admin grant ada@example.com 500 --reason "support: failed reflection"

Without `--password` the password is asked twice on a terminal, or read as the first line of
standard input (`... < file`), so it need not sit in the shell's history or the process list.

Why it lives here and how `atelier admin` reaches it: the rules of accounts (argon2, the strength
check, which sessions a reset ends) are the gateway's, and `libs/` never imports `services/`
(tests/unit/test_import_arrows.py). So this module is the command, runnable as
`python -m services.gateway.accounts.admin`, and libs/cli/admin.py only starts it as a child
process with the same interpreter, naming it by its module path, never importing it: the `atelier`
command stays one entry point, and a machine that has the CLI without the server code says so
instead of failing at import. It reads the gateway's settings (`ATELIER_DATABASE_URL`, ...) and
applies the gateway's pending migrations first, so it works before the gateway has ever started.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import uuid
from pathlib import Path

import httpx

from libs.common.db import create_pool, migrate
from libs.common.internal import HEADER
from services.gateway.accounts import service
from services.gateway.settings import GatewaySettings

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
# where `make run` leaves the service token, for an operator on the same machine
LOCAL_TOKEN_FILE = Path(".atelier") / "internal_token"


def _password(given: str | None, *, confirm: bool = True) -> str:
    if given is not None:
        return given
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if confirm and getpass.getpass("again: ") != first:
        raise SystemExit("the two passwords differ")
    return first


def _service_token(settings: GatewaySettings) -> str | None:
    if settings.internal_token:
        return settings.internal_token
    return LOCAL_TOKEN_FILE.read_text().strip() if LOCAL_TOKEN_FILE.is_file() else None


async def _grant(settings: GatewaySettings, tenant_id: uuid.UUID, args: argparse.Namespace) -> int:
    """Credits are the credits service's: ask it, as the gateway does, under a key of this grant."""
    token = _service_token(settings)
    body = {
        "credits": args.credits,
        "reason": args.reason,
        "idempotency_key": args.idempotency_key or str(uuid.uuid4()),
    }
    async with httpx.AsyncClient(base_url=settings.credits_url, timeout=30.0) as client:
        try:
            answer = await client.post(
                f"/internal/v1/accounts/{tenant_id}/grants",
                json=body,
                headers={HEADER: token} if token else {},
            )
        except httpx.HTTPError as exc:
            print(
                f"the credits service at {settings.credits_url} did not answer: {type(exc).__name__}",
                file=sys.stderr,
            )
            return 1
    if answer.status_code not in (200, 201):
        print(f"refused by the credits service ({answer.status_code}): {answer.text[:300]}", file=sys.stderr)
        return 2
    account = answer.json().get("account", {})
    again = " (this key was used before: nothing more granted)" if answer.status_code == 200 else ""
    print(f"granted {args.credits} credits to {args.email}, workspace {tenant_id}{again}; "
          f"available now {account.get('available')}")  # fmt: skip
    return 0


async def _run(args: argparse.Namespace) -> int:
    settings = GatewaySettings()
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        await migrate(pool, "gateway", MIGRATIONS)
        if args.command == "create-account":
            account = await service.create_account(pool, args.email, args.name, _password(args.password))
            print(f"account {account.account_id} ({account.email}), workspace {account.tenant_id}")
        elif args.command == "list-accounts":
            for row in await service.list_accounts(pool):
                state = f"disabled {row['disabled_at']:%Y-%m-%d}" if row["disabled_at"] else "active"
                print(f"{row['account_id']}  {row['email']}  {row['name']!r}  workspace {row['tenant_id']}  "
                      f"created {row['created_at']:%Y-%m-%d}  {state}")  # fmt: skip
        elif args.command == "reset-password":
            await service.reset_password(pool, args.email, _password(args.password))
            print(f"password of {args.email} reset; its browser sessions are ended")
        elif args.command == "grant":
            return await _grant(settings, await service.workspace_of(pool, args.email), args)
        elif args.command == "disable-account":
            await service.disable_account(pool, args.email)
            print(f"{args.email} disabled: it cannot sign in, and its sessions and API tokens no longer work")
    except service.WeakPassword as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except service.EmailTaken:
        print("refused: an account with this email exists", file=sys.stderr)
        return 2
    except service.NoSuchAccount as exc:
        print(f"no account with the email {exc}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atelier admin", description="Accounts, server side (talks to the database)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-account", help="make an account and its workspace")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--password", help="otherwise asked (or read from standard input)")
    commands.add_parser("list-accounts", help="every account, with its workspace and state")
    reset = commands.add_parser(
        "reset-password", help="set a new password and end the account's browser sessions"
    )
    reset.add_argument("--email", required=True)
    reset.add_argument("--password", help="otherwise asked (or read from standard input)")
    disable = commands.add_parser(
        "disable-account", help="no more sign-in; its sessions and tokens stop working"
    )
    disable.add_argument("--email", required=True)
    grant = commands.add_parser(
        "grant", help="give a workspace credits (support, promotions); negative takes some back"
    )
    grant.add_argument("email")
    grant.add_argument("credits", type=int)
    grant.add_argument("--reason", required=True, help="kept in the ledger")
    grant.add_argument(
        "--idempotency-key", help="the same key again grants nothing more (default: a new one)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
