"""The master list in a JSON file on this machine (``file://``)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import stat
import tempfile
import time
from collections.abc import Iterator

from ..deadline import current_deadline
from ..errors import MasterListError
from ..protocol.model import ServerEntry
from ..wire import encode_server_list
from .core import MergeFn, decode_server_list, stored_or_replaced
from .location import file_path

__all__ = ["FileMasterList"]


class FileMasterList:
    """A JSON file on this machine; written to a temporary file and renamed over.

    A symlink is followed at every update: the lock, the temporary file and
    the replace all act on the file it points to, so servers that reach one
    file through different links share it, and the link stays a link. A path
    that is not a regular file (a FIFO, a directory) is an error at once.
    """

    def __init__(self, read_url: str, write_url: str, *, timeout: float = 10.0) -> None:
        self.read_path = file_path(read_url)
        self.write_path = file_path(write_url)
        self._timeout = timeout

    def _read_path(self, path: str) -> bytes | None:
        try:
            # O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MasterListError(f"cannot read master list {path}: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise MasterListError(f"cannot read master list {path}: not a regular file")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return handle.read()
        except OSError as exc:
            raise MasterListError(f"cannot read master list {path}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def read(self) -> list[ServerEntry]:
        return decode_server_list(self._read_path(self.read_path), self.read_path)

    @contextlib.contextmanager
    def _locked(self, path: str) -> Iterator[None]:
        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, exist_ok=True)
            fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            raise MasterListError(f"cannot lock master list {path}: {exc.strerror}") from None
        try:
            # Polled rather than blocking, so a stopped holder cannot stall us for ever.
            give_up = time.monotonic() + self._timeout
            outer = current_deadline()  # e.g. the shutdown budget
            if outer is not None:
                give_up = min(give_up, outer.at)
            pause = 0.005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= give_up:
                        raise MasterListError(
                            f"cannot lock master list {path}: still locked by another writer"
                        ) from None
                    time.sleep(random.uniform(0, pause))
                    pause = min(pause * 2, 0.1)
                except OSError as exc:
                    raise MasterListError(f"cannot lock master list {path}: {exc.strerror}") from None
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def update(self, merge: MergeFn) -> None:
        # Resolved at every update: the link may have been pointed elsewhere.
        path = os.path.realpath(self.write_path)
        with self._locked(path):
            body = self._read_path(path)
            encoded = encode_server_list(merge(stored_or_replaced(body, path)))
            try:
                fd, tmp = tempfile.mkstemp(prefix=".masterlist-", dir=os.path.dirname(path))
                try:
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(encoded)
                        handle.flush()
                        os.fsync(handle.fileno())
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, path)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
            except OSError as exc:
                raise MasterListError(f"cannot write master list {path}: {exc.strerror}") from None

