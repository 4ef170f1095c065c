"""Which cluster a saved view belongs to (docs/protocol.md section 7).

A state file outlives its server, and its default path depends only on the
base URL: a server of another cluster started later on the same port (a test
or staging run) would inherit a view of strangers, up to a day old. So the
file records the cluster it was written for, and a server of another cluster
starts with an empty view instead.

A cluster is named by its master list and its gossip secrets:

* the master list's location: scheme, host, port and path, without user info
  or query (credentials and a signed URL's signature rotate; the list stays);
* a fingerprint of each gossip secret, never the secret: the first 16 hex
  digits of SHA-256 over a fixed label and the secret.

Two identities are the same cluster when the locations are equal and they
have a secret in common, so a rotation (``SHAZBOT_SECRET="new,old"``, then
``"new"``) keeps the view; the file then records the newest set of secrets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from ..masterlist.location import redact

__all__ = ["ClusterIdentity", "secret_fingerprint"]

_LABEL = b"flask-clustershazbot saved view\0"


def secret_fingerprint(secret: str) -> str:
    """Names a gossip secret without revealing it."""
    return hashlib.sha256(_LABEL + secret.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ClusterIdentity:
    """The cluster a server belongs to, as a state file records it."""

    #: The master list's location, without credentials or query.
    master_list: str
    #: The fingerprints of the gossip secrets (see :func:`secret_fingerprint`).
    secrets: frozenset[str]

    @classmethod
    def of(cls, master_list: str, secrets: Iterable[str]) -> ClusterIdentity:
        """The identity of a cluster with this master list (SHAZBOT_MASTER_LIST)
        and these gossip secrets (SHAZBOT_SECRET)."""
        return cls(redact(master_list), frozenset(secret_fingerprint(s) for s in secrets))

    def same_cluster(self, other: ClusterIdentity) -> bool:
        """Whether ``other`` is this cluster: the same master list and a
        gossip secret in common."""
        return self.master_list == other.master_list and bool(self.secrets & other.secrets)

    def encode_secrets(self) -> str:
        """The fingerprints, as stored (sorted, comma-separated)."""
        return ",".join(sorted(self.secrets))

    @classmethod
    def decode(cls, master_list: str, secrets: str) -> ClusterIdentity:
        """An identity as stored."""
        return cls(master_list, frozenset(s for s in secrets.split(",") if s))
