"""``flask shazbot ...``: look at and steer a running server over HTTP.

The commands talk to the server at SHAZBOT_BASE_URL (or ``--url``); they never
start a gossip loop or join the cluster themselves.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click
import requests
from flask import current_app
from flask.cli import AppGroup

from .auth import bearer
from .errors import InvalidMessage, MasterListError
from .protocol.metadata import MALFORMED_META
from .protocol.model import ServerEntry, entries_to_wire
from .protocol.ownership import check_filters, check_key, owner_in_view
from .protocol.text import printable
from .tls import tls_failure
from .urls import InvalidBaseUrl, canonical_base_url, endpoint_url
from .wire import load_server_list, parse_json

__all__ = ["shazbot_cli", "format_age"]

shazbot_cli = AppGroup("shazbot", help="Cluster membership of this server (Flask-ClusterShazbot).")

F = TypeVar("F", bound=Callable[..., Any])


def _clean_errors(command: F) -> F:
    """Any error becomes one clear line and a non-zero exit, never a traceback.

    Only the exception's type is shown for unexpected errors: their text may
    hold a secret (a header value, say).
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise click.ClickException(f"failed unexpectedly ({type(exc).__name__})") from None

    return run  # type: ignore[return-value]


url_option = click.option(
    "--url", default=None, help="Base URL of the server to ask (default: SHAZBOT_BASE_URL)."
)


def _extension() -> Any:
    return current_app.extensions["shazbot"]


def _target(url: str | None) -> str:
    if url is None:
        return str(_extension().config.base_url)
    try:
        return canonical_base_url(url)
    except InvalidBaseUrl as exc:
        raise click.ClickException(f"--url {exc}") from None


def _call(method: str, base_url: str, name: str, payload: Any = None) -> requests.Response:
    config = _extension().config
    url = endpoint_url(base_url, config.url_prefix, name)
    try:
        response = requests.request(
            method,
            url,
            json=payload,
            headers={"Authorization": bearer(config.control_secret)},
            timeout=(3.0, config.request_timeout),
            allow_redirects=False,
            # SHAZBOT_TLS_*, per call: a session's verify loses to REQUESTS_CA_BUNDLE.
            **config.tls_request_args,
        )
    except Exception as exc:  # not only RequestException: e.g. a header requests cannot encode
        why = tls_failure(exc) or type(exc).__name__
        raise click.ClickException(f"cannot reach {printable(base_url)} ({printable(why)})") from None
    if response.status_code == 401:
        raise click.ClickException(f"{printable(base_url)} refused our control secret (HTTP 401)")
    if response.status_code != 200:
        raise click.ClickException(f"{printable(base_url)} answered HTTP {response.status_code}")
    return response


def format_age(ms: int) -> str:
    seconds = max(ms, 0) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


#: The META column's widest cell; longer metadata is cut, ``--json`` has it all.
_META_WIDTH = 48


def _format_meta(entry: ServerEntry, width: int = _META_WIDTH) -> str:
    """``key=value,key=value`` (keys sorted), escaped, cut to ``width`` with "..."."""
    if entry.meta == MALFORMED_META:  # e.g. a master list written by hand
        return "(malformed)"
    text = printable(",".join(f"{key}={value}" for key, value in entry.meta))
    return text if len(text) <= width else text[: width - 3] + "..."


def _echo_table(entries: list[ServerEntry], this_url: str | None) -> None:
    now_ms = int(time.time() * 1000)
    rows: list[tuple[str, ...]] = [("BASE URL", "STATUS", "MONITOR", "LAST UPDATE", "META")]
    for entry in sorted(entries):
        rows.append(
            (
                # Escaped: a URL that reached us by some path other than
                # validation must not drive the terminal.
                printable(entry.base_url) + (" (this)" if entry.base_url == this_url else ""),
                "online" if entry.online else "offline",
                "yes" if entry.monitor else "no",
                f"{format_age(now_ms - entry.last_update)} ago",
                _format_meta(entry),  # peer-supplied: escaped like the URL
            )
        )
    if not any(entry.meta for entry in entries):
        # No metadata anywhere: no META column, the table as it always was.
        rows = [row[:4] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        if index:  # colours only reach a terminal: click.echo strips them elsewhere
            cells[1] = click.style(cells[1], fg="green" if row[1] == "online" else "red")
        click.echo("  ".join(cells).rstrip())
    online = sum(1 for e in entries if e.online)
    click.echo(f"{online} online, {len(entries) - online} offline")


def _fetch(base_url: str) -> tuple[Any, list[ServerEntry]]:
    response = _call("GET", base_url, "list")
    try:
        data = parse_json(response.content)
        return data, load_server_list(data)
    except InvalidMessage:
        raise click.ClickException(f"{printable(base_url)} did not answer with a server list") from None


@shazbot_cli.command("status")
@url_option
@click.option("--json", "as_json", is_flag=True, help="Print the raw view as JSON (entries with their \"meta\").")
@click.option("--watch", is_flag=True, help="Redraw every gossip interval (at least 1 s) until Ctrl-C.")
@_clean_errors
def status(url: str | None, as_json: bool, watch: bool) -> None:
    """Show the cluster as the running server sees it."""
    base_url = _target(url)
    if not watch:
        data, entries = _fetch(base_url)
        if as_json:
            click.echo(json.dumps(data, indent=2, sort_keys=True))
        else:
            _echo_table(entries, base_url)
        return
    interval = max(float(_extension().config.gossip_interval), 1.0)
    try:
        while True:
            try:
                data, entries = _fetch(base_url)
                click.clear()
                click.echo(f"{printable(base_url)}  {time.strftime('%H:%M:%S')}  (Ctrl-C to stop)")
                _echo_table(entries, base_url)
            except click.ClickException as exc:
                click.echo(f"error: {printable(exc.message)}", err=True)
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


@shazbot_cli.command("masterlist")
@click.option("--json", "as_json", is_flag=True, help="Print the stored document as JSON.")
@_clean_errors
def masterlist(as_json: bool) -> None:
    """Show the master list as stored at SHAZBOT_MASTER_LIST."""
    extension = _extension()
    try:
        entries = extension.node.master_list.read()
    except MasterListError as exc:
        raise click.ClickException(printable(str(exc))) from None
    if as_json:
        click.echo(json.dumps(entries_to_wire(entries), indent=2, sort_keys=True))
    else:
        _echo_table(entries, extension.config.base_url)


def _control(url: str | None, online: bool) -> None:
    base_url = _target(url)
    _call("POST", base_url, "control", {"message": "control", "online": online})
    click.echo(f"{printable(base_url)} is now {'online' if online else 'offline (drained)'}")


@shazbot_cli.command("online")
@url_option
@_clean_errors
def online_command(url: str | None) -> None:
    """Bring a drained server back into the cluster."""
    _control(url, True)


@shazbot_cli.command("offline")
@url_option
@_clean_errors
def offline_command(url: str | None) -> None:
    """Drain a server: it keeps serving but is listed offline."""
    _control(url, False)


def _filter_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    filters: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{printable(item)!r} is not KEY=VALUE")
        if name in filters:
            raise click.BadParameter(f"{printable(name)!r} is given twice")
        filters[name] = value
    try:
        return check_filters(filters)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@shazbot_cli.command("owner")
@click.argument("key")
@url_option
@click.option(
    "--filter",
    "filters",
    multiple=True,
    callback=_filter_option,
    metavar="KEY=VALUE",
    help="Only servers whose metadata has this value (repeat for several).",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"key": ..., "owner": ...} as JSON.')
@_clean_errors
def owner_command(key: str, url: str | None, filters: dict[str, str], as_json: bool) -> None:
    """Print the base URL of the online server that owns KEY (docs/protocol.md
    section 8.6), worked out from the running server's view as `status` reads
    it. Without an owner (no online server matches), exit 1; with --json,
    print "owner": null and exit 0."""
    try:
        check_key(key)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="KEY") from None
    _, entries = _fetch(_target(url))
    owner = owner_in_view(key, entries, filters)
    if as_json:
        click.echo(json.dumps({"key": key, "owner": owner}, indent=2, sort_keys=True))
    elif owner is None:
        raise click.ClickException("no online server" + (" matching the filters" if filters else "") + " owns it")
    else:
        click.echo(printable(owner))
