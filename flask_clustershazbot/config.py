"""Configuration, read in one place (PROTOCOL.md section 3).

Each key comes from ``app.config``, else the environment, else the default.
Everything is checked at once so that a bad deployment gets one error naming
every bad key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .allowlist import PeerAllowList, parse_allowed_peers
from .errors import ConfigError
from .s3store import parse_s3_url
from .urls import InvalidBaseUrl, normalize_base_url

__all__ = ["ShazbotConfig", "load_config", "parse_secrets", "parse_bool"]

T = TypeVar("T")
_MISSING = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class ShazbotConfig:
    secrets: tuple[str, ...]
    control_secrets: tuple[str, ...]
    base_url: str
    master_list: str
    master_list_update: str
    master_list_update_auth: str | None = None
    gossip_interval: float = 30.0
    master_announce_minimum: float = 300.0
    master_announce_interval: float = 600.0
    monitor: bool = False
    monitor_preference: float = 0.5
    update_master_list_on_shutdown: bool = False
    failure_timeout: float | None = None
    offline_retention: float = 86400.0
    max_clock_skew: float = 300.0
    max_content_length: int = 8 * 1024 * 1024
    autostart: bool = True
    # Not in the original library; documented in README "Configuration".
    url_prefix: str = "/clustershazbot"
    request_timeout: float = 5.0
    shutdown_timeout: float = 5.0
    state_path: str | None = None
    allowed_peers: tuple[str, ...] | None = None
    max_entries_per_message: int = 10_000
    max_view_size: int = 20_000

    @property
    def gossip_secret(self) -> str:
        """The secret this server sends (the first configured)."""
        return self.secrets[0]

    @property
    def control_secret(self) -> str:
        return self.control_secrets[0]


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be true or false")


def parse_secrets(value: Any) -> tuple[str, ...]:
    """Comma-separated secrets; the first is sent, all are accepted."""
    if isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    else:
        items = [part.strip() for part in str(value).split(",")]
    secrets = tuple(s for s in items if s)
    if not secrets:
        raise ValueError("must hold at least one non-empty secret")
    return secrets


def _seconds(*, positive: bool) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("must be a number of seconds")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number of seconds (got {value!r})") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"must be a finite number of seconds (got {value!r})")
        if number < 0 or (positive and number == 0):
            raise ValueError(f"must be {'greater than' if positive else 'at least'} 0 (got {value!r})")
        return number

    return parse


def _fraction(value: Any) -> float:
    number = _seconds(positive=False)(value)
    if number > 1:
        raise ValueError(f"must be between 0 and 1 (got {value!r})")
    return number


def _size(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a whole number (got {value!r})") from None
    if number <= 0:
        raise ValueError(f"must be greater than 0 (got {value!r})")
    return number


def _store_url(value: Any) -> str:
    text = str(value).strip()
    scheme = urlsplit(text).scheme.lower()
    if scheme not in ("http", "https", "file", "s3"):
        raise ValueError(f"must be an http://, https://, file:// or s3:// URL (got {text!r})")
    if scheme == "s3":
        parse_s3_url(text)
    if scheme == "file" and not urlsplit(text).path:
        raise ValueError(f"file:// URL has no path (got {text!r})")
    return text


def _base_url(value: Any) -> str:
    try:
        return normalize_base_url(str(value).strip())
    except InvalidBaseUrl as exc:
        raise ValueError(f"{exc} (got {value!r})") from None


def _prefix(value: Any) -> str:
    text = "/" + str(value).strip().strip("/")
    if text == "/":
        raise ValueError("must not be empty")
    return text


def _text(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def load_config(app_config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ShazbotConfig:
    """Build the configuration or raise :class:`ConfigError` naming every bad key."""
    env = os.environ if environ is None else environ
    problems: dict[str, str] = {}
    values: dict[str, Any] = {}

    def read(key: str, field: str, parse: Callable[[Any], T], *, required: bool = False) -> None:
        raw = app_config.get(key, _MISSING)
        if raw is _MISSING or raw is None:
            raw = env.get(key, _MISSING)
        if raw is _MISSING or raw is None:
            if required:
                problems[key] = "is required but not set"
            return
        try:
            values[field] = parse(raw)
        except ValueError as exc:
            # Never echo a secret's value.
            problems[key] = "is malformed" if "SECRET" in key or "AUTH" in key else str(exc)

    read("SHAZBOT_SECRET", "secrets", parse_secrets, required=True)
    read("SHAZBOT_CONTROL_SECRET", "control_secrets", parse_secrets, required=True)
    read("SHAZBOT_BASE_URL", "base_url", _base_url, required=True)
    read("SHAZBOT_MASTER_LIST", "master_list", _store_url, required=True)
    read("SHAZBOT_MASTER_LIST_UPDATE", "master_list_update", _store_url, required=True)
    update_scheme = str(values.get("master_list_update", "")).split(":", 1)[0].lower()
    # file:// needs no credential, s3:// takes the AWS credential chain.
    read("SHAZBOT_MASTER_LIST_UPDATE_AUTH", "master_list_update_auth", _text,
         required=update_scheme not in ("file", "s3"))
    read("SHAZBOT_GOSSIP_INTERVAL", "gossip_interval", _seconds(positive=True))
    read("SHAZBOT_MASTER_ANNOUNCE_MINIMUM", "master_announce_minimum", _seconds(positive=False))
    read("SHAZBOT_MASTER_ANNOUNCE_INTERVAL", "master_announce_interval", _seconds(positive=False))
    read("SHAZBOT_MONITOR", "monitor", parse_bool)
    read("SHAZBOT_MONITOR_PREFERENCE", "monitor_preference", _fraction)
    read("SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN", "update_master_list_on_shutdown", parse_bool)
    read("SHAZBOT_FAILURE_TIMEOUT", "failure_timeout", _seconds(positive=True))
    read("SHAZBOT_OFFLINE_RETENTION", "offline_retention", _seconds(positive=True))
    read("SHAZBOT_MAX_CLOCK_SKEW", "max_clock_skew", _seconds(positive=False))
    read("SHAZBOT_MAX_CONTENT_LENGTH", "max_content_length", _size)
    read("SHAZBOT_AUTOSTART", "autostart", parse_bool)
    read("SHAZBOT_URL_PREFIX", "url_prefix", _prefix)
    read("SHAZBOT_REQUEST_TIMEOUT", "request_timeout", _seconds(positive=True))
    read("SHAZBOT_SHUTDOWN_TIMEOUT", "shutdown_timeout", _seconds(positive=True))
    read("SHAZBOT_STATE_PATH", "state_path", _text)
    read("SHAZBOT_ALLOWED_PEERS", "allowed_peers", parse_allowed_peers)
    read("SHAZBOT_MAX_ENTRIES_PER_MESSAGE", "max_entries_per_message", _size)
    read("SHAZBOT_MAX_VIEW_SIZE", "max_view_size", _size)

    read_scheme = str(values.get("master_list", "")).split(":", 1)[0].lower()
    kinds = {scheme if scheme in ("file", "s3") else "http" for scheme in (read_scheme, update_scheme)}
    if "master_list" in values and "master_list_update" in values and len(kinds) > 1:
        problems["SHAZBOT_MASTER_LIST_UPDATE"] = "must be the same kind of store as SHAZBOT_MASTER_LIST"
    base_url = values.get("base_url")
    if base_url and "allowed_peers" in values and not PeerAllowList(values["allowed_peers"]).allows(base_url):
        problems["SHAZBOT_ALLOWED_PEERS"] = "must allow this server's own SHAZBOT_BASE_URL"
    secrets = set(values.get("secrets", ())) & set(values.get("control_secrets", ()))
    if secrets:
        problems["SHAZBOT_CONTROL_SECRET"] = "must differ from every SHAZBOT_SECRET"
    if problems:
        raise ConfigError(problems)
    return ShazbotConfig(**values)
