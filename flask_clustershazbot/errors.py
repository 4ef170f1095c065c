"""Typed errors. Each client error carries the HTTP status the blueprint answers with."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ShazbotError",
    "Unauthorized",
    "InvalidMessage",
    "PayloadTooLarge",
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


class ConfigError(ShazbotError):
    """The configuration is missing or malformed; the message names every bad key."""

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
