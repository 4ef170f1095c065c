"""A state store shared by every process serving one server (gunicorn workers).

SQLite in WAL mode, from the standard library: one small file on the host, safe
against a writer killed mid-transaction (the transaction rolls back), with
cross-process write locking built in. Each process keeps the membership it
last loaded and reloads it only when another process has committed since
(``PRAGMA data_version``), and then reads only the rows written since it last
looked (each write carries a sequence number); it writes back only the
entries that changed.

Monotonic times (``heard_at``) are shared too: CLOCK_MONOTONIC is one clock for
every process on a Linux host.

The file outlives its server and records the cluster it belongs to (the master
list and salted fingerprints of the gossip secrets, :mod:`.identity`): a server
of another cluster that opens it, say on a reused port, empties it first. A
process of the old cluster that still has it open (a worker finishing during a
reload, a second server with --reuse-port) then finds another cluster recorded
when it next catches up, and refuses to write (:class:`ClusterTakenOver`, a
503; logged once) instead of refilling the new cluster's view.

A process that stops inside a write transaction (SIGSTOP, a debugger, a hung
host) keeps the write lock until it resumes or dies, however short the
transactions are: they already do no I/O but the file's. So waiting for the
lock is bounded (``BUSY_TIMEOUT``, a few seconds, well below gunicorn's
worker timeout of 30 s and below a peer's default request timeout), and an
operation that cannot get it raises :class:`StoreBusy`: the endpoints answer
503 with a JSON error and ``Retry-After``, never a 500 or a request that hangs
until gunicorn kills the worker. Nothing was changed. Reading the view takes
the write lock too (it also writes this process's counters), so reads answer
503 as well; everything answers 200 again as soon as the lock is released.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import stat
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator

from ..errors import ClientError, StoreBusy
from ..protocol.membership import Membership
from ..protocol.metadata import MALFORMED_META, NO_META, Meta, meta_from_wire, meta_json
from ..protocol.model import ServerEntry
from .base import MemoryStats, Totals
from .identity import ClusterIdentity, SavedIdentity, new_salt

__all__ = ["SqliteStore", "SqliteStats", "ClusterTakenOver", "default_state_path", "BUSY_TIMEOUT"]

log = logging.getLogger("flask_clustershazbot")

#: Seconds to wait for another process's write lock before giving up with
#: :class:`StoreBusy`. Legitimate transactions take milliseconds.
BUSY_TIMEOUT = 3.0
#: Seconds between two warnings about a lock held too long (per process).
_BUSY_WARNING_EVERY = 60.0


class ClusterTakenOver(StoreBusy):
    """This process's state file now records another cluster: a server of
    another cluster opened it (and emptied it) after this process did. Nothing
    was written; answered 503 like a busy store, so the loop and the jobs skip
    the round. The process is of the old cluster and should be stopped."""

    def __init__(self, retry_after: int = 1) -> None:
        ClientError.__init__(
            self,
            "This server's shared state now belongs to another cluster; this process no longer writes it.",
            headers={"Retry-After": str(retry_after)},
        )


def _dump_meta(meta: Meta) -> str:
    return meta_json(meta) if meta else ""


def _load_meta(text: str | None) -> Meta:
    if not text:
        return NO_META
    # A damaged row loses its metadata rather than gossip a refusal marker;
    # the server it describes sends it again with its next version.
    try:
        meta = meta_from_wire(json.loads(text))
    except ValueError:
        return NO_META
    return NO_META if meta == MALFORMED_META else meta


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    base_url TEXT PRIMARY KEY,
    monitor INTEGER NOT NULL,
    last_update INTEGER NOT NULL,
    online INTEGER NOT NULL,
    heard_at REAL,
    seq INTEGER NOT NULL DEFAULT 0,
    meta TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS entries_by_seq ON entries (seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, value REAL NOT NULL);
"""

_ADD_COUNT = "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value"
_LATEST_MARK = "INSERT INTO marks VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)"

# SQLITE_BUSY and SQLITE_LOCKED (primary result codes).
_BUSY_CODES = (5, 6)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    text = str(exc)
    return "locked" in text or "busy" in text


def _private_dir(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise RuntimeError(f"state directory {path} is not a directory owned by this user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


def default_state_path(base_url: str) -> str:
    """A per-server file in a private runtime directory.

    ``$XDG_RUNTIME_DIR/flask-clustershazbot/`` when set (a per-user tmpfs,
    emptied at reboot), else ``<tmp>/flask-clustershazbot-<uid>/``.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        directory = os.path.join(runtime, "flask-clustershazbot")
    else:
        directory = os.path.join(tempfile.gettempdir(), f"flask-clustershazbot-{os.getuid()}")
    name = hashlib.sha256(base_url.encode()).hexdigest()[:16]
    return os.path.join(directory, f"state-{name}.sqlite3")


class SqliteStats(MemoryStats):
    """The counters of a server whose processes share a :class:`SqliteStore`:
    this process's in memory, and what it has not written yet, which rides
    along with the store's next write (one set of counters per server)."""

    def __init__(self, store: SqliteStore) -> None:
        super().__init__()
        self._store = store
        self._pending: MemoryStats = MemoryStats()

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name``."""
        with self._lock:
            self._counts[name] += amount
            self._pending.count(name, amount)

    def mark(self, name: str, when: float) -> None:
        """Record that ``name`` happened at ``when`` (epoch seconds)."""
        with self._lock:
            self._marks[name] = when
            self._pending.mark(name, when)

    def take_pending(self) -> Totals:
        """What this process counted since it last wrote, now handed over."""
        with self._lock:
            pending, self._pending = self._pending, MemoryStats()
        return pending.local()

    def totals(self) -> Totals:
        """Every process's counts and latest times, added up (this process's
        pending ones written first). Raises :class:`StoreBusy` if the store
        stays locked."""
        return self._store.totals()


class SqliteStore:
    """The membership shared by the processes of one server, in a SQLite file."""

    def __init__(
        self,
        path: str,
        new_membership: Callable[[], Membership],
        *,
        busy_timeout: float = BUSY_TIMEOUT,
        cluster: ClusterIdentity | None = None,
    ) -> None:
        self.path = path
        #: The cluster the view must belong to (None: not checked, for tools).
        self.cluster = cluster
        self.busy_timeout = busy_timeout
        self._last_busy_warning: float | None = None
        self._new_membership = new_membership
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._conn: sqlite3.Connection | None = None
        self._cache: Membership | None = None
        self._data_version: int | None = None
        #: The newest write sequence number and the deletion generation this
        #: process's cache reflects: a commit by another process is caught up
        #: by reading only the rows written since, unless rows were deleted.
        self._seq = 0
        self._generation = 0
        #: The generation at which the file last recorded our cluster: it is
        #: checked again only when the generation changes (another cluster
        #: empties the file by bumping it), not on every transaction.
        self._checked_generation: int | None = None
        self._told_taken_over = False
        self._stats = SqliteStats(self)

    @property
    def stats(self) -> SqliteStats:
        """The server's counters: this process's, and every process's added up."""
        return self._stats

    def _connection(self) -> sqlite3.Connection:
        # Connections never cross a fork: a process opens its own, lazily, so
        # an app loaded before fork (gunicorn --preload) holds none.
        if self._conn is None or self._pid != os.getpid():
            _private_dir(os.path.dirname(os.path.abspath(self.path)))
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent; a power cut may lose the last commit
                columns = {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
                if columns and "seq" not in columns:  # a state file from an earlier version
                    conn.execute("ALTER TABLE entries ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
                if columns and "meta" not in columns:  # from before metadata (docs/protocol.md section 8.5)
                    conn.execute("ALTER TABLE entries ADD COLUMN meta TEXT NOT NULL DEFAULT ''")
                conn.executescript(_SCHEMA)
                if self.cluster is not None:
                    self._bind_to_cluster(conn, self.cluster)
            except BaseException:
                conn.close()  # set up again on the next call
                raise
            # A job still running when the server shuts down may open the
            # file again after close(): whatever happens, a connection is
            # closed when its store goes away, or at exit.
            weakref.finalize(self, conn.close)
            self._conn, self._pid, self._cache = conn, os.getpid(), None
        return self._conn

    def _bind_to_cluster(self, conn: sqlite3.Connection, cluster: ClusterIdentity) -> None:
        """Empty a view saved by another cluster; record ours (docs/protocol.md
        section 7). Each process checks once, when it opens the file; the
        first that finds another cluster's view empties it under the write
        lock, and the others then find their own: nothing is emptied twice.
        A process of the same cluster with the same secrets only reads.

        The fingerprints are slow on purpose (:mod:`.identity`): they are
        computed before taking the write lock, once per salt and secret."""
        stored = self._stored_cluster(conn)
        if stored is not None and stored == cluster.saved(stored.salt):
            return
        # A file without an identity gets a new salt; fingerprinted here, not
        # under the lock (kept unless another process records one first).
        fresh = cluster.saved(new_salt()) if stored is None else None
        conn.execute("BEGIN IMMEDIATE")
        try:
            stored = self._stored_cluster(conn)
            if stored is None:
                has_view = conn.execute("SELECT 1 FROM entries LIMIT 1").fetchone() is not None
                if has_view:  # saved by an earlier version: it may be any cluster's
                    self._empty(conn, "records no cluster (saved by an earlier version)")
                ours = fresh or cluster.saved(new_salt())
            else:
                if not stored.is_cluster(cluster):
                    self._empty(
                        conn, "was saved by another cluster (another master list, or no gossip secret in common)"
                    )
                ours = cluster.saved(stored.salt)
            conn.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [
                    ("cluster_master_list", ours.master_list),
                    ("cluster_salt", ours.salt.hex()),
                    ("cluster_secrets", ours.encode_fingerprints()),
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _stored_cluster(conn: sqlite3.Connection) -> SavedIdentity | None:
        """The recorded cluster; None for a file without one, or with
        unsalted fingerprints (a development build's): it is not trusted."""
        rows = dict(
            conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('cluster_master_list', 'cluster_salt', 'cluster_secrets')"
            )
        )
        if any(rows.get(k) is None for k in ("cluster_master_list", "cluster_salt", "cluster_secrets")):
            return None
        return SavedIdentity.decode(
            str(rows["cluster_master_list"]), str(rows["cluster_salt"]), str(rows["cluster_secrets"])
        )

    def _check_still_ours(self, conn: sqlite3.Connection, generation: int) -> None:
        """Raise :class:`ClusterTakenOver` if the file now records another
        cluster than this process's. Checked once per generation: a process
        of another cluster that opens the file empties it, which always
        starts a new generation."""
        if self.cluster is None or generation == self._checked_generation:
            return
        stored = self._stored_cluster(conn)
        if stored is not None and stored.is_cluster(self.cluster):
            self._checked_generation, self._told_taken_over = generation, False
            return
        self._stats.take_pending()  # this cluster's counts have no file left to go to
        if not self._told_taken_over:
            self._told_taken_over = True
            log.warning(
                "the view saved in %s now belongs to another cluster (a server of another cluster opened it): "
                "this process, of the old cluster, no longer writes it and answers 503; stop or restart it",
                self.path,
            )
        raise ClusterTakenOver(retry_after=max(1, round(self.busy_timeout)))

    def _empty(self, conn: sqlite3.Connection, why: str) -> None:
        """Forget the saved view and everything else of the run that saved it:
        entries (offline ones too), counters, the run (so the next process to
        join begins a new one and sets this server online again)."""
        generation = self._meta_int(conn, "generation") + 1  # processes caching the old view reload
        conn.execute("DELETE FROM entries")
        conn.execute("DELETE FROM counters")
        conn.execute("DELETE FROM marks")
        conn.execute("DELETE FROM meta WHERE key IN ('instance', 'last_detection')")
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(generation),))
        log.warning("the view saved in %s %s: starting with an empty view", self.path, why)

    @contextlib.contextmanager
    def _busy_is_503(self) -> Iterator[None]:
        """Turn "database is locked" after the busy timeout into StoreBusy."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            now = time.monotonic()
            if self._last_busy_warning is None or now - self._last_busy_warning > _BUSY_WARNING_EVERY:
                self._last_busy_warning = now
                log.warning(
                    "the shared state %s stayed locked for over %.1fs (a process of this server stopped or "
                    "hung inside a write?): answering 503 until it is released",
                    self.path,
                    self.busy_timeout,
                )
            raise StoreBusy(retry_after=max(1, round(self.busy_timeout))) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Membership]:
        """The membership under the write lock; what changed is written on
        exit. Raises :class:`StoreBusy` if the lock stays taken."""
        with self._lock:
            with self._busy_is_503():
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")  # once held, nothing below waits for a lock
            try:
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                if self._cache is None or version != self._data_version:
                    self._cache = self._catch_up(conn, self._cache)
                membership = self._cache
                entries, heard = dict(membership.entries), dict(membership.heard_at)
                detection = membership.last_detection
                yield membership
                seq, generation = self._save(conn, membership, entries, heard, detection)
                conn.execute("COMMIT")
                self._data_version = version  # our own commit does not change it
                self._seq, self._generation = seq, generation
            except BaseException:
                self._cache = None  # it may hold half a change
                conn.execute("ROLLBACK")
                raise

    def _meta_int(self, conn: sqlite3.Connection, key: str) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _catch_up(self, conn: sqlite3.Connection, cached: Membership | None) -> Membership:
        """The membership as committed: the cache plus the rows other
        processes wrote since, or a full load when rows were deleted."""
        seq, generation = self._meta_int(conn, "seq"), self._meta_int(conn, "generation")
        self._check_still_ours(conn, generation)
        if cached is None or generation != self._generation:
            membership, since = self._new_membership(), -1
        else:
            membership, since = cached, self._seq
        if cached is None or seq != self._seq or generation != self._generation:
            for url, monitor, last_update, online, heard_at, meta in conn.execute(
                "SELECT base_url, monitor, last_update, online, heard_at, meta FROM entries WHERE seq > ?", (since,)
            ):
                membership.entries[url] = ServerEntry(
                    url, bool(monitor), int(last_update), bool(online), _load_meta(meta)
                )
                if heard_at is not None:
                    membership.heard_at[url] = float(heard_at)
        row = conn.execute("SELECT value FROM meta WHERE key = 'last_detection'").fetchone()
        membership.last_detection = float(row[0]) if row and row[0] is not None else None
        self._seq, self._generation = seq, generation
        return membership

    def _save(
        self,
        conn: sqlite3.Connection,
        membership: Membership,
        entries_before: dict[str, ServerEntry],
        heard_before: dict[str, float],
        detection_before: float | None,
    ) -> tuple[int, int]:
        """Write what changed; returns the new (sequence, generation)."""
        heard = membership.heard_at
        seq, generation = self._seq, self._generation
        changed = [
            (e.base_url, int(e.monitor), e.last_update, int(e.online), heard.get(url), seq + 1, _dump_meta(e.meta))
            for url, e in membership.entries.items()
            if entries_before.get(url) is not e or heard_before.get(url) != heard.get(url)
        ]
        if changed:
            seq += 1
            conn.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)", changed)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (str(seq),))
        removed = [(url,) for url in entries_before if url not in membership.entries]
        if removed:
            generation += 1  # other processes cannot see a deletion in new rows: they reload
            conn.executemany("DELETE FROM entries WHERE base_url = ?", removed)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(generation),))
        self._write_pending(conn)  # counters ride along with the view's writes
        if membership.last_detection != detection_before:
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_detection', ?)",
                (None if membership.last_detection is None else repr(membership.last_detection),),
            )
        return seq, generation

    def _write_pending(self, conn: sqlite3.Connection) -> None:
        counts, marks = self._stats.take_pending()
        if counts:
            conn.executemany(_ADD_COUNT, counts.items())
        if marks:
            conn.executemany(_LATEST_MARK, marks.items())

    def flush_pending(self) -> None:
        """Write this process's pending counters now. Takes the write lock
        (raises :class:`StoreBusy` if it stays taken), not the view; raises
        :class:`ClusterTakenOver` (dropping them) if another cluster took the
        file over."""
        with self._lock:
            with self._busy_is_503():
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
            try:
                if self.cluster is not None:
                    self._check_still_ours(conn, self._meta_int(conn, "generation"))
                self._write_pending(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- small shared facts ------------------------------------------------------

    def totals(self) -> Totals:
        """Every process's counters and latest times, added up."""
        self.flush_pending()
        with self._lock, self._busy_is_503():
            conn = self._connection()
            counts = {str(k): int(v) for k, v in conn.execute("SELECT name, value FROM counters")}
            marks = {str(k): float(v) for k, v in conn.execute("SELECT name, value FROM marks")}
        return counts, marks

    def get_meta(self, key: str) -> str | None:
        with self._lock, self._busy_is_503():
            row = self._connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self._busy_is_503():
            self._connection().execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def claim_instance(self, instance: str) -> bool:
        """Record which run of the server the store belongs to; True for the
        first process of a new run (which then sets the server online).

        Joining the run under way (a worker booted or recycled) only reads,
        which in WAL mode never waits for a writer: a worker's boot does not
        fail because another process holds the write lock."""
        with self._lock:
            with self._busy_is_503():
                conn = self._connection()
                row = conn.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
                if row is not None and row[0] == instance:
                    return False
                conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
                if row is not None and row[0] == instance:
                    conn.execute("COMMIT")
                    return False
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('instance', ?)", (instance,))
                conn.execute("COMMIT")
                return True
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn, self._cache = None, None
