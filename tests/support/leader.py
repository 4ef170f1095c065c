"""Which process runs a server's gossip loop, seen from outside it: the
holder of the leader lock beside the state file, in the kernel's lock table
(the election's own definition of the leader, so nothing is written for it)."""

from __future__ import annotations

import os


def lock_holder(lock_path: str) -> int | None:
    """The pid holding the ``flock`` on ``lock_path``, or None (Linux ``/proc/locks``)."""
    try:
        info = os.stat(lock_path)
        with open("/proc/locks") as table:
            lines = table.read().splitlines()
    except OSError:
        return None
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5416857 0 EOF"; waiters have a "->" after the number.
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
            return int(fields[4])
    return None
