"""Configuration, read in one place (docs/protocol.md section 3).

Each key comes from ``app.config``, else the environment, else the default.
Everything is checked at once so that a bad deployment gets one error naming
every bad key.
"""

from __future__ import annotations

import difflib
import importlib.util
import logging
import os
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .errors import ConfigError
from .masterlist.location import is_dns_url, parse_dns_url, parse_s3_url
from .protocol.allowlist import PeerAllowList, parse_allowed_peers
from .protocol.metadata import DEFAULT_MAX_METADATA_BYTES, NO_META, Meta, parse_metadata
from .protocol.suspicion import DEFAULT_INDIRECT_PROBES
from .protocol.text import is_printable, printable
from .tls import TlsArgs, tls_args
from .urls import InvalidBaseUrl, normalize_base_url

__all__ = ["ShazbotConfig", "load_config", "parse_secrets", "parse_bool", "KNOWN_KEYS", "unknown_keys"]

log = logging.getLogger("flask_clustershazbot")

T = TypeVar("T")
_MISSING = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class ShazbotConfig:
    """One app's settings, checked: built by :func:`load_config` from the
    ``SHAZBOT_*`` keys (each field's comment names its key). Durations are
    seconds. README "Configuration" gives the same keys as a table."""

    #: SHAZBOT_SECRET: the gossip secrets; the first is sent, all are accepted.
    secrets: tuple[str, ...]
    #: SHAZBOT_CONTROL_SECRET: the control secrets (control endpoint, status
    #: page); the first is sent, all are accepted; none is a gossip secret.
    control_secrets: tuple[str, ...]
    #: SHAZBOT_BASE_URL: this server's own URL as peers reach it, normalized.
    base_url: str
    #: SHAZBOT_MASTER_LIST: where the master list is read (``http(s)://``,
    #: ``file://`` or ``s3://``), or the read-only DNS source it is found
    #: through (``dns://NAME:PORT`` or ``dns+srv://_service._proto.NAME``).
    master_list: str
    #: SHAZBOT_MASTER_LIST_UPDATE: where the master list is written, the same
    #: kind of store as :attr:`master_list`; empty with a DNS source, which
    #: is never written.
    master_list_update: str = ""
    #: SHAZBOT_MASTER_LIST_UPDATE_AUTH: the whole ``Authorization`` header
    #: value sent with an ``http(s)://`` write; ``None`` for ``file://`` and
    #: ``s3://``.
    master_list_update_auth: str | None = None
    #: SHAZBOT_GOSSIP_INTERVAL: seconds between gossip ticks (each jittered
    #: by up to 10%).
    gossip_interval: float = 30.0
    #: SHAZBOT_MASTER_ANNOUNCE_MINIMUM: earliest master-list write after start.
    master_announce_minimum: float = 300.0
    #: SHAZBOT_MASTER_ANNOUNCE_INTERVAL: the extra random delay before each
    #: master-list write, uniform in [0, this].
    master_announce_interval: float = 600.0
    #: SHAZBOT_MONITOR: whether this server is a monitor.
    monitor: bool = False
    #: SHAZBOT_MONITOR_PREFERENCE: the chance that a tick's partner is drawn
    #: from the online monitors, 0 to 1.
    monitor_preference: float = 0.5
    #: SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN: write the master list while
    #: shutting down.
    update_master_list_on_shutdown: bool = False
    #: SHAZBOT_FAILURE_TIMEOUT: seconds without a heartbeat before a peer is
    #: declared offline; ``None`` derives it from the interval and the view
    #: size (docs/protocol.md).
    failure_timeout: float | None = None
    #: SHAZBOT_OFFLINE_RETENTION: how long an entry is kept after its last update.
    offline_retention: float = 86400.0
    #: SHAZBOT_MAX_CLOCK_SKEW: entries dated further than this in the future
    #: are refused.
    max_clock_skew: float = 300.0
    #: SHAZBOT_MAX_CONTENT_LENGTH: the largest request or peer answer body, in
    #: bytes (at least 65,536); larger ones get 413.
    max_content_length: int = 8 * 1024 * 1024
    #: SHAZBOT_AUTOSTART: start the member on the first request; ``False``
    #: leaves it to :meth:`Shazbot.start <flask_clustershazbot.Shazbot.start>`.
    autostart: bool = True
    # Not in the original library from here on; documented in README "Configuration".
    #: SHAZBOT_URL_PREFIX: where the blueprint is mounted, the same on every
    #: server (``/`` then printable ASCII, no trailing ``/``).
    url_prefix: str = "/clustershazbot"
    #: SHAZBOT_REQUEST_TIMEOUT: the total deadline of every outgoing call, to
    #: peers and to master-list stores.
    request_timeout: float = 5.0
    #: SHAZBOT_SHUTDOWN_TIMEOUT: the total time the goodbye (and the
    #: master-list write, if configured) may take.
    shutdown_timeout: float = 5.0
    #: SHAZBOT_STATE_PATH: the SQLite file shared by this server's processes;
    #: ``None`` picks one (README "Deploying with gunicorn").
    state_path: str | None = None
    #: SHAZBOT_ALLOWED_PEERS: the host patterns and CIDR ranges this server
    #: may talk to and keep entries for (docs/configuration.md gives the
    #: syntax); ``None`` allows all.
    allowed_peers: tuple[str, ...] | None = None
    # A full view (this server included) must pass a peer with the same
    # settings, so the per-message cap is never below the view cap (checked).
    #: SHAZBOT_MAX_ENTRIES_PER_MESSAGE: a gossip message listing more servers
    #: gets 413; never below :attr:`max_view_size`.
    max_entries_per_message: int = 20_000
    #: SHAZBOT_MAX_VIEW_SIZE: new servers beyond this many are refused.
    max_view_size: int = 20_000
    #: SHAZBOT_INDIRECT_PROBES: witnesses asked to try a peer after a failed
    #: exchange, before it is declared offline (docs/protocol.md section
    #: 8.4); 0 leaves failure detection to the heartbeat timeout alone.
    indirect_probes: int = DEFAULT_INDIRECT_PROBES
    #: SHAZBOT_METADATA: this server's metadata (docs/protocol.md section
    #: 8.5), ``(key, value)`` pairs sorted by key; changed at run time with
    #: :meth:`Shazbot.set_metadata <flask_clustershazbot.Shazbot.set_metadata>`.
    metadata: Meta = NO_META
    #: SHAZBOT_MAX_METADATA_BYTES: the largest metadata of one entry, encoded;
    #: larger incoming metadata makes its entry refused.
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES
    #: SHAZBOT_LAME_DUCK: seconds a stopping server stays offline but serving
    #: (so load balancers take it out) before it stops; 0 stops at once.
    lame_duck: float = 0.0
    #: SHAZBOT_TLS_CA: the CA bundle that verifies peers and stores; ``None``
    #: uses requests' default (certifi, or REQUESTS_CA_BUNDLE).
    tls_ca: str | None = None
    #: SHAZBOT_TLS_CERT: the client certificate presented on every outgoing
    #: call (mutual TLS); with :attr:`tls_key`.
    tls_cert: str | None = None
    #: SHAZBOT_TLS_KEY: the private key of :attr:`tls_cert`.
    tls_key: str | None = None
    #: SHAZBOT_DNS_SCHEME: the scheme of base URLs built from a DNS master-list
    #: source, ``https`` or ``http``.
    dns_scheme: str = "https"

    @property
    def gossip_secret(self) -> str:
        """The secret this server sends (the first configured)."""
        return self.secrets[0]

    @property
    def message_limits(self) -> dict[str, Any]:
        """What a peer with these settings accepts in one gossip message: the
        keyword arguments of :func:`~flask_clustershazbot.wire.encode_gossip`
        and ``fit_gossip``, with this server's own entry kept first."""
        return {
            "max_entries": self.max_entries_per_message,
            "max_bytes": self.max_content_length,
            "own_url": self.base_url,
        }

    @property
    def control_secret(self) -> str:
        """The control secret this server sends (the first configured)."""
        return self.control_secrets[0]

    @property
    def tls_request_args(self) -> TlsArgs:
        """``verify`` and ``cert`` for every outgoing requests call. Passed on
        each call, not set on a session: requests lets REQUESTS_CA_BUNDLE and
        CURL_CA_BUNDLE override ``Session.verify`` (psf/requests#3829), and
        SHAZBOT_TLS_CA must win over them."""
        return tls_args(self.tls_ca, self.tls_cert, self.tls_key)

    @property
    def master_list_writable(self) -> bool:
        """Whether the master list is ever written (a DNS source never is)."""
        return bool(self.master_list_update)


def parse_bool(value: Any) -> bool:
    """``true``/``yes``/``on``/``1`` or ``false``/``no``/``off``/``0``/empty,
    any case; raises ``ValueError`` for anything else."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be true or false")


class _SafeProblem(ValueError):
    """A problem with a secret whose message never contains the value."""


def _is_token(text: str, *, space: bool = False) -> bool:
    low = " " if space else "!"
    return all(low <= char <= "~" for char in text)


def parse_secrets(value: Any) -> tuple[str, ...]:
    """Comma-separated secrets; the first is sent, all are accepted.

    Each must be printable ASCII without spaces (``!`` to ``~``): a secret
    travels in an HTTP header, which every client encodes differently
    outside ASCII (requests sends Latin-1, curl UTF-8), and a control
    character in a header is a request-splitting hazard.
    """
    if isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    else:
        items = [part.strip() for part in str(value).split(",")]
    secrets = tuple(s for s in items if s)
    if not secrets:
        raise _SafeProblem("must hold at least one non-empty secret")
    if not all(_is_token(secret) for secret in secrets):
        raise _SafeProblem("must hold only printable ASCII characters (no spaces, controls or non-ASCII letters)")
    return secrets


def _header_value(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise _SafeProblem("must not be empty")
    if not _is_token(text, space=True):
        raise _SafeProblem("must hold only printable ASCII characters and spaces (it is sent as a header)")
    return text


#: No duration may exceed a year: beyond that a timer overflows, and no
#: deployment means it.
MAX_SECONDS = 365 * 86400.0


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
        if number > MAX_SECONDS:
            raise ValueError(f"must be at most {MAX_SECONDS:.0f} seconds, a year (got {value!r})")
        return number

    return parse


def _fraction(value: Any) -> float:
    number = _seconds(positive=False)(value)
    if number > 1:
        raise ValueError(f"must be between 0 and 1 (got {value!r})")
    return number


#: Smallest SHAZBOT_MAX_CONTENT_LENGTH: a message holding one entry with the
#: longest base URL, JSON-escaped, always fits.
MIN_CONTENT_LENGTH = 65_536


def _content_length(value: Any) -> int:
    number = _size(value)
    if number < MIN_CONTENT_LENGTH:
        raise ValueError(f"must be at least {MIN_CONTENT_LENGTH} bytes, room for one entry (got {value!r})")
    return number


def _count(value: Any) -> int:
    """A whole number, 0 or more (at most 10: each is a request per suspicion round)."""
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number (got {value!r})")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a whole number (got {value!r})") from None
    if not 0 <= number <= 10:
        raise ValueError(f"must be between 0 and 10 (got {value!r})")
    return number


#: Largest SHAZBOT_MAX_METADATA_BYTES: metadata travels in every message.
MAX_METADATA_BYTES = 65_536


def _metadata_bytes(value: Any) -> int:
    number = _size(value)
    if number > MAX_METADATA_BYTES:
        raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes: metadata travels in every message "
                         f"(got {value!r})")
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
    if not is_printable(text):
        raise ValueError(f"must hold only printable characters (got {printable(text.split('?')[0])!r})")
    scheme = urlsplit(text).scheme.lower()
    if scheme not in ("http", "https", "file", "s3"):
        # Without the query: a signed URL's query is a secret.
        raise ValueError(f"must be an http://, https://, file:// or s3:// URL (got {printable(text.split('?')[0])!r})")
    if scheme == "s3":
        parse_s3_url(text)
    if scheme == "file" and not urlsplit(text).path:
        raise ValueError(f"file:// URL has no path (got {text!r})")
    return text


def _read_source(value: Any) -> str:
    """SHAZBOT_MASTER_LIST: a store URL, or a DNS source."""
    text = str(value).strip()
    if is_dns_url(text):
        parse_dns_url(text)
        return text
    return _store_url(text)


def _readable_file(value: Any) -> str:
    """A path to a file this process can read (its contents never shown)."""
    path = os.path.expanduser(str(value).strip())
    if not path:
        raise ValueError("must not be empty")
    if not os.path.isfile(path):
        raise ValueError(f"must name an existing file (got {printable(path)!r})")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or type(exc).__name__}: {printable(path)!r})") from None
    return path


def _refuse_pass_phrase() -> str:
    raise _EncryptedKey


class _EncryptedKey(Exception):
    """The client key asks for a pass phrase, which nothing can give at run time."""


def _ssl_reason(exc: ssl.SSLError) -> str:
    # The OpenSSL reason code alone: never a file's contents.
    return str(exc.reason or "unreadable").replace("_", " ").lower()


def _tls_problems(values: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with readable TLS files, found now rather than at the
    first handshake (where it would be one more failed exchange)."""
    problems: dict[str, str] = {}
    ca, cert, key = values.get("tls_ca"), values.get("tls_cert"), values.get("tls_key")
    if ca:
        try:
            ssl.create_default_context(cafile=ca)
        except ssl.SSLError as exc:
            problems["SHAZBOT_TLS_CA"] = f"holds no usable certificate ({_ssl_reason(exc)}: {printable(ca)!r})"
    if cert and key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_cert_chain(cert, key, password=_refuse_pass_phrase)
        except _EncryptedKey:
            problems["SHAZBOT_TLS_KEY"] = (
                f"is protected by a pass phrase, which cannot be given at run time: use an unencrypted key "
                f"readable only by this server's user ({printable(key)!r})"
            )
        except ssl.SSLError as exc:
            reason = _ssl_reason(exc)
            if exc.reason == "KEY_VALUES_MISMATCH":
                problems["SHAZBOT_TLS_KEY"] = f"does not match SHAZBOT_TLS_CERT ({printable(key)!r})"
            else:
                problems["SHAZBOT_TLS_CERT"] = (
                    f"and SHAZBOT_TLS_KEY are not a PEM certificate and its key ({reason}: {printable(cert)!r})"
                )
    return problems


def _dns_scheme(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("http", "https"):
        raise ValueError(f"must be http or https (got {printable(text)!r})")
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
    if not (text.isascii() and is_printable(text)) or any(c in text for c in " ?#%\\"):
        raise ValueError(f"must be a plain URL path of printable ASCII (got {printable(text)!r})")
    return text


def _text(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


#: Every SHAZBOT_* key the package reads (here, and nowhere else).
KNOWN_KEYS = frozenset(
    {
        "SHAZBOT_SECRET",
        "SHAZBOT_CONTROL_SECRET",
        "SHAZBOT_BASE_URL",
        "SHAZBOT_MASTER_LIST",
        "SHAZBOT_MASTER_LIST_UPDATE",
        "SHAZBOT_MASTER_LIST_UPDATE_AUTH",
        "SHAZBOT_GOSSIP_INTERVAL",
        "SHAZBOT_MASTER_ANNOUNCE_MINIMUM",
        "SHAZBOT_MASTER_ANNOUNCE_INTERVAL",
        "SHAZBOT_MONITOR",
        "SHAZBOT_MONITOR_PREFERENCE",
        "SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN",
        "SHAZBOT_FAILURE_TIMEOUT",
        "SHAZBOT_OFFLINE_RETENTION",
        "SHAZBOT_MAX_CLOCK_SKEW",
        "SHAZBOT_MAX_CONTENT_LENGTH",
        "SHAZBOT_AUTOSTART",
        "SHAZBOT_URL_PREFIX",
        "SHAZBOT_REQUEST_TIMEOUT",
        "SHAZBOT_SHUTDOWN_TIMEOUT",
        "SHAZBOT_STATE_PATH",
        "SHAZBOT_ALLOWED_PEERS",
        "SHAZBOT_MAX_ENTRIES_PER_MESSAGE",
        "SHAZBOT_MAX_VIEW_SIZE",
        "SHAZBOT_INDIRECT_PROBES",
        "SHAZBOT_METADATA",
        "SHAZBOT_MAX_METADATA_BYTES",
        "SHAZBOT_LAME_DUCK",
        "SHAZBOT_TLS_CA",
        "SHAZBOT_TLS_CERT",
        "SHAZBOT_TLS_KEY",
        "SHAZBOT_DNS_SCHEME",
    }
)


def _given(app_config: Mapping[str, Any], env: Mapping[str, str], key: str) -> Any:
    """``key``'s raw value: from ``app.config``, else the environment, else None."""
    value = app_config.get(key)
    return env.get(key) if value is None else value


def _is_set(app_config: Mapping[str, Any], env: Mapping[str, str], key: str) -> bool:
    value = _given(app_config, env, key)
    return value is not None and str(value).strip() != ""


def unknown_keys(*sources: Iterable[Any]) -> list[str]:
    """``SHAZBOT_*`` keys of ``sources`` (mappings or key lists) that nothing reads, sorted."""
    found = {key for source in sources for key in source if isinstance(key, str) and key.startswith("SHAZBOT_")}
    return sorted(found - KNOWN_KEYS)


def _warn_unknown(keys: list[str]) -> None:
    if not keys:
        return
    described = []
    for key in keys:
        close = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.8)
        described.append(f"{key} (did you mean {close[0]}?)" if close else key)
    # Names only: a value may be a secret.
    log.warning(
        "unknown configuration key%s ignored (in app.config or the environment): %s",
        "" if len(keys) == 1 else "s",
        ", ".join(described),
    )


def load_config(app_config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ShazbotConfig:
    """Build the configuration or raise :class:`ConfigError` naming every bad key.

    ``SHAZBOT_*`` keys that nothing reads (typos such as
    ``SHAZBOT_GOSIP_INTERVAL``) get one WARNING naming them.
    """
    env = os.environ if environ is None else environ
    _warn_unknown(unknown_keys(app_config, env))
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
        except _SafeProblem as exc:
            problems[key] = str(exc)
        except ValueError as exc:
            # Never echo a secret's value.
            problems[key] = "is malformed" if "SECRET" in key or "AUTH" in key else str(exc)

    read("SHAZBOT_SECRET", "secrets", parse_secrets, required=True)
    read("SHAZBOT_CONTROL_SECRET", "control_secrets", parse_secrets, required=True)
    read("SHAZBOT_BASE_URL", "base_url", _base_url, required=True)
    read("SHAZBOT_MASTER_LIST", "master_list", _read_source, required=True)
    # From the value as given: a malformed DNS source is still a DNS source,
    # which needs no write settings (one error, not three).
    given_source = _given(app_config, env, "SHAZBOT_MASTER_LIST")
    dns_source = is_dns_url(str(given_source or "").strip())
    if "master_list" in values and dns_source and importlib.util.find_spec("dns") is None:
        problems["SHAZBOT_MASTER_LIST"] = (
            "is a DNS source, which needs dnspython: pip install 'flask-clustershazbot[dns]'"
        )
    if dns_source:
        # A DNS source is read-only: nothing to write, nor a credential to write with.
        write_keys = ("SHAZBOT_MASTER_LIST_UPDATE", "SHAZBOT_MASTER_LIST_UPDATE_AUTH",
                      "SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN")
        for key in write_keys:
            raw = _given(app_config, env, key)
            # An explicit "no write at shutdown" agrees with a read-only source.
            if key.endswith("ON_SHUTDOWN") and str(raw).strip().lower() in _FALSE:
                continue
            if _is_set(app_config, env, key):
                problems[key] = (
                    "must not be set with a dns:// or dns+srv:// SHAZBOT_MASTER_LIST: a DNS source is "
                    "read-only, so the master list is never written"
                )
    else:
        read("SHAZBOT_MASTER_LIST_UPDATE", "master_list_update", _store_url, required=True)
    update_scheme = str(values.get("master_list_update", "")).split(":", 1)[0].lower()
    # file:// needs no credential, s3:// takes the AWS credential chain.
    if not dns_source:
        read("SHAZBOT_MASTER_LIST_UPDATE_AUTH", "master_list_update_auth", _header_value,
             required=update_scheme not in ("file", "s3"))
    read("SHAZBOT_GOSSIP_INTERVAL", "gossip_interval", _seconds(positive=True))
    read("SHAZBOT_MASTER_ANNOUNCE_MINIMUM", "master_announce_minimum", _seconds(positive=False))
    read("SHAZBOT_MASTER_ANNOUNCE_INTERVAL", "master_announce_interval", _seconds(positive=False))
    read("SHAZBOT_MONITOR", "monitor", parse_bool)
    read("SHAZBOT_MONITOR_PREFERENCE", "monitor_preference", _fraction)
    if not dns_source:
        read("SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN", "update_master_list_on_shutdown", parse_bool)
    read("SHAZBOT_FAILURE_TIMEOUT", "failure_timeout", _seconds(positive=True))
    read("SHAZBOT_OFFLINE_RETENTION", "offline_retention", _seconds(positive=True))
    read("SHAZBOT_MAX_CLOCK_SKEW", "max_clock_skew", _seconds(positive=False))
    read("SHAZBOT_MAX_CONTENT_LENGTH", "max_content_length", _content_length)
    read("SHAZBOT_AUTOSTART", "autostart", parse_bool)
    read("SHAZBOT_URL_PREFIX", "url_prefix", _prefix)
    read("SHAZBOT_REQUEST_TIMEOUT", "request_timeout", _seconds(positive=True))
    read("SHAZBOT_SHUTDOWN_TIMEOUT", "shutdown_timeout", _seconds(positive=True))
    read("SHAZBOT_STATE_PATH", "state_path", _text)
    read("SHAZBOT_ALLOWED_PEERS", "allowed_peers", parse_allowed_peers)
    read("SHAZBOT_MAX_ENTRIES_PER_MESSAGE", "max_entries_per_message", _size)
    read("SHAZBOT_MAX_VIEW_SIZE", "max_view_size", _size)
    read("SHAZBOT_INDIRECT_PROBES", "indirect_probes", _count)
    read("SHAZBOT_MAX_METADATA_BYTES", "max_metadata_bytes", _metadata_bytes)
    max_meta = values.get("max_metadata_bytes", DEFAULT_MAX_METADATA_BYTES)
    read("SHAZBOT_METADATA", "metadata", lambda raw: parse_metadata(raw, max_meta))
    read("SHAZBOT_LAME_DUCK", "lame_duck", _seconds(positive=False))
    read("SHAZBOT_TLS_CA", "tls_ca", _readable_file)
    read("SHAZBOT_TLS_CERT", "tls_cert", _readable_file)
    read("SHAZBOT_TLS_KEY", "tls_key", _readable_file)
    read("SHAZBOT_DNS_SCHEME", "dns_scheme", _dns_scheme)
    for key, other in (("SHAZBOT_TLS_CERT", "SHAZBOT_TLS_KEY"), ("SHAZBOT_TLS_KEY", "SHAZBOT_TLS_CERT")):
        if _is_set(app_config, env, key) and not _is_set(app_config, env, other) and key not in problems:
            problems[key] = f"must be set together with {other} (a client certificate needs its key)"
    problems.update(_tls_problems(values))

    read_scheme = str(values.get("master_list", "")).split(":", 1)[0].lower()
    kinds = {scheme if scheme in ("file", "s3") else "http" for scheme in (read_scheme, update_scheme)}
    if "master_list" in values and values.get("master_list_update") and len(kinds) > 1:
        problems["SHAZBOT_MASTER_LIST_UPDATE"] = "must be the same kind of store as SHAZBOT_MASTER_LIST"
    base_url = values.get("base_url")
    if base_url and "allowed_peers" in values and not PeerAllowList(values["allowed_peers"]).allows(base_url):
        problems["SHAZBOT_ALLOWED_PEERS"] = "must allow this server's own SHAZBOT_BASE_URL"
    per_message = values.get("max_entries_per_message", ShazbotConfig.max_entries_per_message)
    view_size = values.get("max_view_size", ShazbotConfig.max_view_size)
    if per_message < view_size and "SHAZBOT_MAX_ENTRIES_PER_MESSAGE" not in problems:
        problems["SHAZBOT_MAX_ENTRIES_PER_MESSAGE"] = (
            f"must be at least SHAZBOT_MAX_VIEW_SIZE ({view_size}; got {per_message}): otherwise a peer with "
            "these settings refuses this server's own full view"
        )
    secrets = set(values.get("secrets", ())) & set(values.get("control_secrets", ()))
    if secrets:
        problems["SHAZBOT_CONTROL_SECRET"] = "must differ from every SHAZBOT_SECRET"
    if problems:
        raise ConfigError(problems)
    config = ShazbotConfig(**values)
    if config.request_timeout >= config.gossip_interval:
        log.warning(
            "SHAZBOT_REQUEST_TIMEOUT (%ss) is not below SHAZBOT_GOSSIP_INTERVAL (%ss): "
            "one unresponsive peer can delay ticks",
            config.request_timeout, config.gossip_interval,
        )
    return config
