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
  digits of PBKDF2-HMAC-SHA256 over the secret, with a random salt of the
  file (created with the identity) and a fixed label, :data:`ITERATIONS`
  rounds. The salt makes a precomputed table useless across files, and the
  rounds make guessing a secret from a stolen file slow (about 30 ms a
  guess); a process computes each fingerprint once per salt.

Two identities are the same cluster when the locations are equal and they
have a secret in common, so a rotation (``SHAZBOT_SECRET="new,old"``, then
``"new"``) keeps the view; the file then records the newest set of secrets.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..masterlist.location import redact

__all__ = ["ClusterIdentity", "SavedIdentity", "secret_fingerprint", "new_salt", "ITERATIONS"]

_LABEL = b"flask-clustershazbot saved view\0"
#: PBKDF2 rounds per fingerprint: about 30 ms on a 2-core host of 2026
#: (measured: 31 ms), paid once per process and configured secret.
ITERATIONS = 100_000
_SALT_BYTES = 16


def new_salt() -> bytes:
    """A random salt for a state file's fingerprints."""
    return os.urandom(_SALT_BYTES)


@functools.lru_cache(maxsize=64)  # a process (its tests too) reopens the same file
def secret_fingerprint(secret: str, salt: bytes) -> str:
    """Names a gossip secret, in the file with this salt, without revealing it."""
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt + _LABEL, ITERATIONS)[:8].hex()


@dataclass(frozen=True)
class ClusterIdentity:
    """The cluster a server belongs to: what it compares a state file with."""

    #: The master list's location, without credentials or query.
    master_list: str
    #: The gossip secrets themselves: only their fingerprints are ever stored
    #: (kept out of repr so that logging an identity shows none).
    secrets: tuple[str, ...] = field(repr=False)

    @classmethod
    def of(cls, master_list: str, secrets: Iterable[str]) -> ClusterIdentity:
        """The identity of a cluster with this master list (SHAZBOT_MASTER_LIST)
        and these gossip secrets (SHAZBOT_SECRET)."""
        return cls(redact(master_list), tuple(sorted(set(secrets))))

    def fingerprints(self, salt: bytes) -> frozenset[str]:
        """The fingerprints of the gossip secrets in a file with this salt."""
        return frozenset(secret_fingerprint(s, salt) for s in self.secrets)

    def saved(self, salt: bytes) -> SavedIdentity:
        """This identity as a file with this salt records it."""
        return SavedIdentity(self.master_list, salt, self.fingerprints(salt))


@dataclass(frozen=True)
class SavedIdentity:
    """The cluster a state file records: location, salt, fingerprints."""

    master_list: str
    salt: bytes
    fingerprints: frozenset[str]

    def is_cluster(self, cluster: ClusterIdentity) -> bool:
        """Whether ``cluster`` is the one recorded: the same master list and
        a gossip secret in common."""
        return self.master_list == cluster.master_list and bool(self.fingerprints & cluster.fingerprints(self.salt))

    def encode_fingerprints(self) -> str:
        """The fingerprints, as stored (sorted, comma-separated)."""
        return ",".join(sorted(self.fingerprints))

    @classmethod
    def decode(cls, master_list: str, salt: str, fingerprints: str) -> SavedIdentity | None:
        """An identity as stored; None when the salt is not one we wrote."""
        try:
            raw = bytes.fromhex(salt)
        except ValueError:
            return None
        if len(raw) != _SALT_BYTES:
            return None
        return cls(master_list, raw, frozenset(s for s in fingerprints.split(",") if s))
