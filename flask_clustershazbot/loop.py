"""The gossip loop: APScheduler jobs that drive a :class:`ClusterNode`.

Jobs: ``bootstrap`` (read the master list, retried with backoff until it
works), ``tick`` (every GOSSIP_INTERVAL with 10% jitter), ``announce`` (at a
uniform random time in [MINIMUM, MINIMUM + INTERVAL], rescheduled after each
run) and ``spread`` (one extra exchange after a control request).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from .errors import MasterListError
from .node import ClusterNode

__all__ = ["GossipLoop"]

log = logging.getLogger("flask_clustershazbot")

#: Backoff of master-list reads at start: first retry after this many seconds...
BOOTSTRAP_RETRY_FIRST = 1.0
#: ... doubling up to this many gossip intervals.
BOOTSTRAP_RETRY_MAX_INTERVALS = 10


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class GossipLoop:
    def __init__(
        self, node: ClusterNode, rng: random.Random | None = None, after_job: Callable[[], None] | None = None
    ) -> None:
        self.node = node
        self._after_job = after_job
        self.config = node.config
        self.rng = rng or random.Random()
        self._scheduler: BackgroundScheduler | None = None
        self._bootstrap_delay = BOOTSTRAP_RETRY_FIRST

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    def start(self) -> None:
        if self._scheduler is not None:
            return
        scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            daemon=True,
        )
        scheduler.add_job(self._guarded(self._bootstrap))
        self._scheduler = scheduler  # before start: the bootstrap job reads it at once
        scheduler.start()

    def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            # APScheduler 3 marks itself stopped before taking its job-store
            # lock, so a one-shot job due at that moment fails to remove itself
            # and kills the scheduler thread with a traceback: empty the job
            # store first, while the scheduler still runs.
            scheduler.remove_all_jobs()
            # Do not wait for a tick stuck on a slow peer: shutdown is bounded.
            scheduler.shutdown(wait=False)

    def request_spread(self) -> None:
        if self._scheduler is not None:
            self._scheduler.add_job(self._watched(self.node.spread))

    # -- jobs ----------------------------------------------------------------

    def _bootstrap(self) -> None:
        try:
            self.node.load_master_list()
            loaded = True
        except MasterListError as exc:
            loaded = False
            delay = self._bootstrap_delay
            self._bootstrap_delay = min(delay * 2, BOOTSTRAP_RETRY_MAX_INTERVALS * self.config.gossip_interval)
            log.warning("could not read the master list (%s); retrying in %.1fs", exc, delay)
            self._add_once(self._guarded(self._bootstrap), delay)
        if self._scheduler is None:
            return
        if self._scheduler.get_job("tick") is None:
            interval = self.config.gossip_interval
            self._scheduler.add_job(
                self._watched(self.node.gossip_tick),
                "interval",
                seconds=interval,
                jitter=interval / 10,
                id="tick",
                next_run_time=_utcnow(),  # gossip once at once
            )
            self._schedule_announce()
        elif loaded:
            self.request_spread()  # a late master list: meet its servers now

    def _announce(self) -> None:
        try:
            self.node.announce()
            log.debug("wrote the master list")
        except MasterListError as exc:
            log.warning("could not write the master list: %s", exc)
        except Exception:
            log.exception("unexpected error while writing the master list")
        self._schedule_announce()

    def _schedule_announce(self) -> None:
        delay = self.config.master_announce_minimum + self.rng.uniform(0, self.config.master_announce_interval)
        self._add_once(self._announce, delay)

    def _add_once(self, func: Callable[[], None], delay: float) -> None:
        # One-shot jobs get fresh ids: a job that re-adds itself under its own
        # id races with the scheduler removing the finished one.
        if self._scheduler is not None:
            self._scheduler.add_job(func, "date", run_date=_utcnow() + timedelta(seconds=delay))

    def _guarded(self, func: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                func()
            except Exception:  # never raise into the scheduler
                log.exception("gossip job failed")

        return run

    def _watched(self, func: Callable[[], None]) -> Callable[[], None]:
        """``func``, then the after-job hook (signals), both guarded."""
        guarded = self._guarded(func)
        after = self._after_job

        def run() -> None:
            guarded()
            if after is not None:
                self._guarded(after)()

        return run
