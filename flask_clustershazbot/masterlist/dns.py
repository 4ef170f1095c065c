"""A read-only master list found through DNS (``dns://`` and ``dns+srv://``).

``dns://NAME:PORT`` names every A and AAAA address of NAME, each on PORT;
``dns+srv://_service._proto.NAME`` names the targets and ports of NAME's SRV
records. Each becomes a base URL ``{SHAZBOT_DNS_SCHEME}://{host}:{port}/``
(IPv6 in brackets, a target without its final dot); the URL prefix is added
to it like to any base URL. The name is resolved again at every read: DNS
records change while a cluster runs (pods come and go).

A record is skipped (never guessed at) when its target is not a plain host
name, every label ``[A-Za-z0-9_-]{1,63}``, or its port is not 1 to 65535. A
label may hold any byte in DNS (a dot included, escaped with a backslash in
text): such a name would read as one host to the allow-list and as another to
the HTTP client.

DNS says where servers may be, not what they are: no record carries a
version. So what DNS gives is never merged as a claim about a server.
:meth:`DnsMasterList.read` dates every entry at ``lastUpdate`` 0, below every
merge window (docs/protocol.md section 4), so merging them changes nothing;
the node instead gossips with the servers it does not know yet
(:meth:`~flask_clustershazbot.node.ClusterNode.load_master_list`), and each
answers with its own entry, dated by itself. The store is never written
(``writable = False``).

Resolved with dnspython, which reads the system resolver configuration
(``/etc/resolv.conf``); each read has a total deadline of the request timeout.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import MasterListError
from ..protocol.model import ServerEntry
from ..urls import InvalidBaseUrl, canonical_base_url
from .core import MergeFn
from .location import DnsLocation, parse_dns_url

if TYPE_CHECKING:
    import dns.resolver

__all__ = ["DnsLookup", "DnsMasterList", "DnsPythonLookup", "SEED_LAST_UPDATE", "seed_urls", "target_text"]

log = logging.getLogger("flask_clustershazbot")

#: One label of a target this module connects to: what every URL parser,
#: the allow-list and the resolver read the same way.
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}")

#: The ``lastUpdate`` of an entry found through DNS: no version at all, older
#: than any retention, so a merge drops it and it can never override what a
#: server said about itself (nor bring a dead server back).
SEED_LAST_UPDATE = 0


class DnsLookup(Protocol):
    """How names are resolved; both raise :class:`MasterListError` on failure
    (no such name, no records, no answer in time)."""

    def addresses(self, name: str, timeout: float) -> list[str]:
        """The A and AAAA addresses of ``name``, as text."""
        ...

    def services(self, name: str, timeout: float) -> list[tuple[str, int]]:
        """The ``(target, port)`` of each SRV record of ``name``; ``"."`` for
        a target that is the root ("no such service", RFC 2782)."""
        ...


class DnsPythonLookup:
    """:class:`DnsLookup` with dnspython's resolver, configured from the
    system (``/etc/resolv.conf``) at each lookup, so a changed configuration
    is followed too. Names are looked up as given: no search domains."""

    def __init__(self) -> None:
        try:
            import dns.resolver  # noqa: F401  (imported lazily: an optional extra)
        except ImportError:
            raise MasterListError(
                "dns:// and dns+srv:// master lists need dnspython: pip install 'flask-clustershazbot[dns]'"
            ) from None

    def _resolve(self, name: str, rdtype: str, give_up: float) -> list[Any]:
        import dns.exception
        import dns.resolver

        remaining = give_up - time.monotonic()
        if remaining <= 0:
            raise MasterListError(f"resolving {name} timed out (no answer within the request timeout)")
        try:
            resolver: dns.resolver.Resolver = dns.resolver.Resolver()  # reads /etc/resolv.conf
            resolver.lifetime = remaining
            return list(resolver.resolve(name, rdtype, search=False, lifetime=remaining))
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            return []
        except dns.exception.Timeout:
            raise MasterListError(
                f"resolving {name} ({rdtype}) timed out (no answer within the request timeout)"
            ) from None
        except dns.resolver.NoNameservers:
            raise MasterListError(f"resolving {name} ({rdtype}) failed: no name server answered") from None
        except dns.exception.DNSException as exc:
            raise MasterListError(f"resolving {name} ({rdtype}) failed: {type(exc).__name__}") from None

    def addresses(self, name: str, timeout: float) -> list[str]:
        give_up = time.monotonic() + timeout
        found: list[str] = []
        failures: list[MasterListError] = []
        for rdtype in ("A", "AAAA"):
            # One family failing (a server that refuses AAAA queries for a
            # name it holds only A records of) leaves the other's addresses.
            try:
                found += [record.address for record in self._resolve(name, rdtype, give_up)]
            except MasterListError as exc:
                failures.append(exc)
        if failures and not found:
            raise failures[0]
        return found

    def services(self, name: str, timeout: float) -> list[tuple[str, int]]:
        records = self._resolve(name, "SRV", time.monotonic() + timeout)
        found = []
        for record in records:
            # From the labels, not to_text(): that escapes a dot inside a
            # label (a\.b), which URL parsers then read differently.
            target = target_text(record.target.labels)
            if target is None:
                log.debug("skipped an SRV record of %s: its target is not a plain host name", name)
                continue
            found.append((target, int(record.port)))
        return found


def target_text(labels: tuple[bytes, ...]) -> str | None:
    """An SRV target's host name from its ``labels`` (dnspython's
    ``Name.labels``, bytes), without the final dot (``"."`` for the root), or
    None when a label is not ``[A-Za-z0-9_-]{1,63}`` (module docstring)."""
    if labels and labels[-1] == b"":
        labels = labels[:-1]  # the root: the final dot
    if not labels:
        return "."
    texts = []
    for label in labels:
        try:
            text = label.decode("ascii")
        except UnicodeDecodeError:
            return None
        if not _LABEL.fullmatch(text):
            return None
        texts.append(text)
    return ".".join(texts)


def _plain_host_name(text: str) -> bool:
    name = text[:-1] if text.endswith(".") else text
    return bool(name) and all(_LABEL.fullmatch(label) for label in name.split("."))


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _host(text: str) -> str:
    host = text[:-1] if text.endswith(".") else text
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            return f"[{host}]"
    except ValueError:
        pass  # a name, not an address
    return host


def seed_urls(location: DnsLocation, lookup: DnsLookup, *, scheme: str, timeout: float) -> list[str]:
    """The base URLs the records of ``location`` name, sorted, without
    duplicates; :class:`MasterListError` if there are none."""
    if location.srv:
        # "." as the target means "no such service here" (RFC 2782).
        pairs = [(target, port) for target, port in lookup.services(location.name, timeout) if target not in (".", "")]
        usable = _plain_host_name
    else:
        assert location.port is not None
        pairs = [(address, location.port) for address in lookup.addresses(location.name, timeout)]
        usable = _is_address
    urls = set()
    skipped = 0
    for host, port in pairs:
        # Checked here too, whatever the lookup: port 0 is "no port", and a
        # host only one parser reads as given could reach an unlisted server.
        if not usable(host) or not 1 <= port <= 65535:
            skipped += 1
            continue
        try:
            urls.add(canonical_base_url(f"{scheme}://{_host(host)}:{port}"))
        except InvalidBaseUrl:
            skipped += 1  # a record no server could be reached at
    if skipped:
        log.debug("skipped %d record(s) of %s: not a plain host name or address on a port from 1 to 65535",
                  skipped, location.name)
    if not urls:
        kind = "SRV" if location.srv else "A or AAAA"
        unusable = f" ({skipped} unusable skipped)" if skipped else ""
        raise MasterListError(f"master list {location.url}: no {kind} records for {location.name}{unusable}")
    return sorted(urls)


class DnsMasterList:
    """A read-only master list: the servers the DNS records of one name give.

    ``lookup`` resolves names (dnspython by default; tests pass a fake).
    """

    #: Never written: announcing re-reads it (docs/protocol.md section 8.9).
    writable = False

    def __init__(
        self, url: str, *, scheme: str = "https", timeout: float, lookup: DnsLookup | None = None
    ) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"the DNS scheme must be http or https (got {scheme!r})")
        try:
            self.location = parse_dns_url(url)
        except ValueError as exc:
            raise MasterListError(f"invalid DNS master list: {exc}") from None
        self.scheme = scheme
        self._timeout = timeout
        self._lookup = lookup if lookup is not None else DnsPythonLookup()

    @property
    def url(self) -> str:
        """The source, normalised (for logs)."""
        return self.location.url

    def urls(self) -> list[str]:
        """Resolve the name now: the base URLs its records give."""
        return seed_urls(self.location, self._lookup, scheme=self.scheme, timeout=self._timeout)

    def read(self) -> list[ServerEntry]:
        """The servers the records give, as unversioned entries (module docstring)."""
        return [ServerEntry(url, False, SEED_LAST_UPDATE, True) for url in self.urls()]

    def update(self, merge: MergeFn) -> None:
        """Nothing is ever written; the records are resolved again and merged
        (a no-op for the view: see the module docstring)."""
        merge(self.read())
