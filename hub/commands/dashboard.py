"""``hub dashboard``: make password hashes for the dashboard's users file, and take screenshots of
the main pages from a running hub (docs/dashboard/)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from hub import render

app = typer.Typer(
    help="The web dashboard: users' password hashes, screenshots.", no_args_is_help=True
)


@app.command("hash-password")
def hash_password(
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for when not given."
        ),
    ],
) -> None:
    """Print the scrypt hash to put in the users file as `password_hash`."""
    from services.reporting.dashboard.auth import hash_password as make

    typer.echo(make(password))


@app.command()
def screenshots(
    url: Annotated[str, typer.Option(help="The reporting service.")] = "http://127.0.0.1:8100",
    user: Annotated[str, typer.Option(help="A dashboard user who sees the whole hub.")] = "manager",
    password: Annotated[
        str | None, typer.Option(help="Default: the demo's, from --logins.")
    ] = None,
    logins: Annotated[Path, typer.Option(help="The demo's generated logins.")] = Path(
        ".data/demo/secrets/dashboard-logins.json"
    ),
    pupils: Annotated[
        str, typer.Option(help="Year of the pupil pages (the sample's last year of delivery).")
    ] = "2024-25",
    money: Annotated[
        str, typer.Option(help="Year of the funding pages (the sample's money).")
    ] = "2025-26",
    out: Annotated[Path, typer.Option(help="Folder for the PNG files.")] = Path("docs/dashboard"),
) -> None:
    """Screenshot the main pages in headless chromium (run `hub demo` first)."""
    from harness.screenshots import take_screenshots

    secret = password or json.loads(logins.read_text())[user]
    written = asyncio.run(take_screenshots(url, user, secret, pupils, money, out))
    render.console.print("\n".join(str(p) for p in written))
