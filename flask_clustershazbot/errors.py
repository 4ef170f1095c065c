"""Typed errors. Each client error carries the HTTP status the blueprint answers with."""

from __future__ import annotations

from typing import Any

import click

__all__ = [
    "ShazbotError",
    "Unauthorized",
    "InvalidMessage",
    "PayloadTooLarge",
    "StoreBusy",
    "ConfigError",
    "MasterListError",
    "PreconditionFailed",
    "InvalidMasterList",
]


class ShazbotError(Exception):
    """Base class of every error this package raises on purpose."""


class ClientError(ShazbotError):
    """A request was refused; nothing was changed."""

    status = 400

    def __init__(self, message: str, details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}

    def to_json(self) -> dict[str, Any]:
        """The JSON error body: ``{"error": ...}`` and, for a 400 about fields, ``"details"``."""
        body: dict[str, Any] = {"error": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class Unauthorized(ClientError):
    status = 401


class InvalidMessage(ClientError):
    status = 400


class PayloadTooLarge(ClientError):
    status = 413


class Forbidden(ClientError):
    """An authenticated request asked for something this server may not do
    (a probe of a URL outside SHAZBOT_ALLOWED_PEERS)."""

    status = 403


class NotAWitness(ClientError):
    """This server cannot judge a probe now (it is unhealthy itself, or
    already checking as many peers as it may): 503, and the asker treats it
    as no answer."""

    status = 503

    def __init__(self, why: str) -> None:
        super().__init__(f"Not a witness now: {why}.", headers={"Retry-After": "1"})


class StoreBusy(ClientError):
    """This server's shared state stayed write-locked by another of its
    processes (one stopped or hung inside a write) for longer than the busy
    timeout. Nothing was changed; answered 503 with ``Retry-After``."""

    status = 503

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(
            "This server's shared state is busy in another of its processes; try again shortly.",
            headers={"Retry-After": str(retry_after)},
        )


class ConfigError(ShazbotError, click.ClickException):
    """The configuration is missing or malformed; the message names every bad key.

    A ``ClickException`` too, so that a ``flask`` command whose app fails to
    load prints this message in one line instead of a traceback."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {key}: {why}" for key, why in problems.items())
        super().__init__(f"Flask-ClusterShazbot is not configured correctly:\n{lines}")


class MasterListError(ShazbotError):
    """The master list could not be read or written."""


class InvalidMasterList(MasterListError):
    """The stored master list is not a valid server list."""


class PreconditionFailed(MasterListError):
    """The master list changed since it was read (HTTP 412): read, merge, write again."""
