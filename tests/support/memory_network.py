"""An in-memory network of ``ClusterNode``s, modelled on memberlist's
``MockNetwork``: every node is registered by its base URL, and an exchange is
delivered in-process to the target's ``receive_gossip``, through the real wire
encoding both ways. No sockets, no threads of its own.

Per-link faults shape a bad network: a link (sender -> receiver) can drop the
request, refuse the connection, or lose the answer (the receiver merges, the
sender times out). An unknown or unregistered URL is refused.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Any

from flask_clustershazbot.config import ShazbotConfig
from flask_clustershazbot.node import ClusterNode
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.transport import ExchangeError
from flask_clustershazbot.wire import load_gossip, load_server_list, parse_json

__all__ = ["Fault", "Delivery", "MemoryNetwork", "MemoryTransport", "memory_config"]


def memory_config(base_url: str, **settings: Any) -> ShazbotConfig:
    """The configuration of a node on a memory network: fixed secrets, a
    master list the test passes in, and ``settings`` (ShazbotConfig fields)."""
    return ShazbotConfig(
        secrets=("gossip-secret",),
        control_secrets=("control-secret",),
        base_url=base_url,
        master_list="memory:",
        master_list_update="memory:",
        **settings,
    )


class Fault(enum.Enum):
    """What goes wrong on one link."""

    #: The request is lost: the receiver never sees it, the sender times out.
    DROP = "drop"
    #: The connection is refused: the receiver never sees it.
    REFUSE = "refuse"
    #: The receiver merges the request, but its answer is lost: the sender times out.
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Delivery:
    """One exchange attempted on the network, and how it ended."""

    sender: str
    receiver: str
    #: The entries the sender's message carried.
    entries: tuple[ServerEntry, ...]
    #: None when the exchange worked, else the fault that struck it.
    fault: Fault | None

    @property
    def ok(self) -> bool:
        return self.fault is None


class MemoryNetwork:
    """Many nodes, one process; exchanges are function calls."""

    def __init__(self) -> None:
        self._nodes: dict[str, ClusterNode] = {}
        self._faults: dict[tuple[str, str], Fault] = {}
        self._unanswered_probes: set[tuple[str, str]] = set()
        self._lock = threading.Lock()  # a leaving node says goodbye from several threads
        self.deliveries: list[Delivery] = []

    def transport(self, sender: str) -> MemoryTransport:
        """The transport for the node at ``sender`` (its base URL)."""
        return MemoryTransport(self, sender)

    def register(self, node: ClusterNode) -> ClusterNode:
        """Make ``node`` reachable at its base URL."""
        self._nodes[node.config.base_url] = node
        return node

    def unregister(self, base_url: str) -> None:
        """``base_url`` no longer answers (a crash): exchanges with it are refused."""
        self._nodes.pop(base_url, None)

    def fault(self, sender: str, receiver: str, fault: Fault) -> None:
        """Make every exchange from ``sender`` to ``receiver`` fail as ``fault``."""
        self._faults[(sender, receiver)] = fault

    def isolate(self, base_url: str, fault: Fault) -> None:
        """Every exchange sent to ``base_url`` fails as ``fault``."""
        for sender in self._nodes:
            if sender != base_url:
                self.fault(sender, base_url, fault)

    def fault_probes(self, sender: str, witness: str) -> None:
        """Probe questions from ``sender`` to ``witness`` get "not a witness"
        (as from a peer without the probe endpoint, 404); exchanges are
        unaffected."""
        self._unanswered_probes.add((sender, witness))

    def heal(self) -> None:
        """Remove every fault."""
        self._faults.clear()
        self._unanswered_probes.clear()

    def sent(self, sender: str | None = None, receiver: str | None = None) -> list[Delivery]:
        """The exchanges attempted, oldest first, optionally from or to one node."""
        with self._lock:
            return [
                d
                for d in self.deliveries
                if (sender is None or d.sender == sender) and (receiver is None or d.receiver == receiver)
            ]

    def exchange(self, sender: str, receiver: str, message: bytes) -> list[ServerEntry]:
        """Deliver ``message`` from ``sender`` to ``receiver``; the answer's entries."""
        entries = load_gossip(parse_json(message))
        target = self._nodes.get(receiver)
        fault = self._faults.get((sender, receiver), None if target is not None else Fault.REFUSE)
        with self._lock:
            self.deliveries.append(Delivery(sender, receiver, tuple(entries), fault))
        if fault is Fault.REFUSE:
            raise ExchangeError("connection", "refused")
        if fault is Fault.DROP or target is None:
            raise ExchangeError("timeout", "no complete answer within the deadline")
        answer = target.encode(target.receive_gossip(entries, sender))
        if fault is Fault.TIMEOUT:
            raise ExchangeError("timeout", "no complete answer within the deadline")
        return load_server_list(parse_json(answer))

    def probe(self, sender: str, witness: str, suspect: str) -> bool | None:
        """Ask ``witness`` to try ``suspect`` for ``sender``, over the
        sender -> witness link (its fault, if any, loses the question or
        the answer); the witness's own tries cross its own links."""
        target = self._nodes.get(witness)
        fault = self._faults.get((sender, witness), None if target is not None else Fault.REFUSE)
        if fault is Fault.REFUSE:
            raise ExchangeError("connection", "refused")
        if fault is not None or target is None:
            raise ExchangeError("timeout", "no complete answer within the deadline")
        if (sender, witness) in self._unanswered_probes:
            return None
        return target.detector.witness(suspect)


class MemoryTransport:
    """One node's :class:`~flask_clustershazbot.transport.PeerTransport` on a
    :class:`MemoryNetwork`."""

    def __init__(self, network: MemoryNetwork, sender: str) -> None:
        self.network = network
        self.sender = sender
        self.closed = False

    def exchange(self, base_url: str, message: bytes, timeout: float | None = None) -> list[ServerEntry]:
        if self.closed:
            raise ExchangeError("connection", "transport closed")
        return self.network.exchange(self.sender, base_url, message)

    def probe(self, witness_url: str, suspect_url: str, timeout: float) -> bool | None:
        if self.closed:
            raise ExchangeError("connection", "transport closed")
        return self.network.probe(self.sender, witness_url, suspect_url)

    def close(self) -> None:
        self.closed = True
