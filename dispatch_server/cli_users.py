"""`dasan users ...`: create accounts, disable and enable them, reset passwords, list them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from dispatch_server.accounts.credentials import Role, password_problem
from dispatch_server.clock import SystemClock
from dispatch_server.config import get_settings

console = Console()
users_app = typer.Typer(
    help="Accounts: create, disable, enable, reset a password, list.", no_args_is_help=True
)


def _run(work):  # type: ignore[no-untyped-def]
    from dispatch_server.cli import _in_transaction

    return _in_transaction(work)


def _new_password(from_stdin: bool) -> str:
    """The new password, from standard input (one line) or asked for twice."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if problem := password_problem(password):
        from dispatch_server.cli import _fail

        _fail(problem)
    return password


def _hash(password: str) -> str:
    from dispatch_server.accounts.service import passwords_of

    return passwords_of(get_settings()).hash(password)


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input")
]


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="the sign-in name")],
    role: Annotated[Role, typer.Option(help="what the account may do")],
    district: Annotated[
        list[str] | None,
        typer.Option(help="a district code a dispatcher or supervisor sees (repeatable)"),
    ] = None,
    inspector_id: Annotated[
        int | None, typer.Option(help="the field inspector an inspector account is")
    ] = None,
    name: Annotated[str | None, typer.Option(help="the name shown (default: username)")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an active account with a password (asked for, or read from stdin)."""
    from dispatch_server.accounts import users

    password_hash = _hash(_new_password(password_stdin))
    account = _run(
        lambda c: users.create_user(
            c, username=username, role=role, password_hash=password_hash,
            now=SystemClock().now(), display_name=name, districts=district,
            inspector_id=inspector_id,
        )
    )  # fmt: skip
    console.print(f"created {account.username} ({account.role}, id {account.id})")


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="the sign-in name")]) -> None:
    """Disable an account: it cannot sign in, and its tokens stop working at once."""
    from dispatch_server.accounts import users

    _run(lambda c: users.set_active(c, username=username, active=False, now=SystemClock().now()))
    console.print(f"{username} disabled; its sign-ins are revoked")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument(help="the sign-in name")]) -> None:
    """Let a disabled account sign in again."""
    from dispatch_server.accounts import users

    _run(lambda c: users.set_active(c, username=username, active=True, now=SystemClock().now()))
    console.print(f"{username} enabled")


@users_app.command("reset-password")
def users_reset_password(
    username: Annotated[str, typer.Argument(help="the sign-in name")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password; the account's existing sign-ins end."""
    from dispatch_server.accounts import users

    password_hash = _hash(_new_password(password_stdin))
    _run(
        lambda c: users.set_password(
            c, username=username, password_hash=password_hash, now=SystemClock().now()
        )
    )
    console.print(f"{username}: password changed; its sign-ins are revoked")


@users_app.command("list")
def users_list() -> None:
    """Every account: name, role, scope, whether it may sign in."""
    from dispatch_server.accounts import users

    accounts = _run(users.list_users)
    for a in accounts:
        scope = ",".join(a.districts) or (f"inspector {a.inspector_id}" if a.inspector_id else "")
        state = "" if a.active else "  (disabled)"
        console.print(f"{a.username:<24} {a.role:<11} {scope}{state}")
    console.print(f"{len(accounts)} accounts")
