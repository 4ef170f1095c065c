"""The gossip loop: APScheduler jobs that drive a :class:`ClusterNode`.

Jobs: ``tick`` (every GOSSIP_INTERVAL with 10% jitter, from the start),
``bootstrap`` (read the master list beside the ticks, retried with backoff
until it works), ``announce`` (at a
uniform random time in [MINIMUM, MINIMUM + INTERVAL], rescheduled after each
run) and ``spread`` (one extra exchange after a control request). Cluster
jobs (:mod:`flask_clustershazbot.jobs`) run beside them in their own bounded
thread pool, so a slow job never delays a tick.
"""

from __future__ import annotations

import concurrent.futures.thread  # noqa: F401  (see below)
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from .errors import MasterListError, StoreBusy
from .jobs import JOB_EXECUTOR, JOB_ID_PREFIX, JOB_THREADS, ClusterJob, ClusterJobs
from .masterlist.core import is_writable
from .node import ClusterNode
from .protocol.text import printable

# Imported here, not lazily by APScheduler when the loop starts: the module
# registers the exit hook that shuts its thread pools down, and the member's
# own exit hook (registered later, at start) must run before it, or a loop
# still ticking at exit prints "cannot schedule new futures after shutdown".

__all__ = ["GossipLoop"]

log = logging.getLogger("flask_clustershazbot")

#: A change of at least this many seconds between the wall clock and the
#: monotonic clock is a step of the wall clock (NTP slews far more slowly).
CLOCK_STEP_THRESHOLD = 1.0

#: Backoff of master-list reads at start: first retry after this many seconds...
BOOTSTRAP_RETRY_FIRST = 1.0
#: ... doubling up to this many gossip intervals.
BOOTSTRAP_RETRY_MAX_INTERVALS = 10


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class GossipLoop:
    def __init__(
        self,
        node: ClusterNode,
        rng: random.Random | None = None,
        after_job: Callable[[], None] | None = None,
        *,
        cluster_jobs: ClusterJobs | None = None,
        job_runner: Callable[[ClusterJob], Callable[[], None]] | None = None,
    ) -> None:
        """``cluster_jobs`` are scheduled while the loop runs, each fire
        calling ``job_runner(job)()`` (which checks ownership and never raises)."""
        self.node = node
        self._after_job = after_job
        self._cluster_jobs = cluster_jobs
        self._job_runner = job_runner
        if cluster_jobs is not None and job_runner is not None:
            cluster_jobs.subscribe(self)  # jobs decorated after the loop started
        self.config = node.config
        self.rng = rng or random.Random()
        self._scheduler: BackgroundScheduler | None = None
        self._bootstrap_delay = BOOTSTRAP_RETRY_FIRST
        self._stopped = threading.Event()

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    def start(self) -> None:
        if self._scheduler is not None:
            return
        scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            executors={JOB_EXECUTOR: ThreadPoolExecutor(JOB_THREADS)},
            daemon=True,
        )
        # Ticks start at once and do not wait for the master list: a slow or
        # broken store must not keep a server from heartbeating, nor from
        # gossiping with the peers it hears from.
        interval = self.config.gossip_interval
        scheduler.add_job(
            self._watched(self.node.gossip_tick),
            "interval",
            seconds=interval,
            jitter=interval / 10,
            id="tick",
            next_run_time=_utcnow(),  # gossip once at once
        )
        scheduler.add_job(self._guarded(self._bootstrap))
        self._scheduler = scheduler  # before start: the jobs read it at once
        for job in self._cluster_jobs.all() if self._cluster_jobs is not None else []:
            self._add_cluster_job(scheduler, job)
        scheduler.start()
        self._schedule_announce()
        self._stopped = threading.Event()
        threading.Thread(
            target=self._follow_clock_steps, args=(scheduler, self._stopped), name="shazbot-clock", daemon=True
        ).start()

    def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        self._stopped.set()
        if scheduler is not None:
            # APScheduler 3 marks itself stopped before taking its job-store
            # lock, so a one-shot job due at that moment fails to remove itself
            # and kills the scheduler thread with a traceback: empty the job
            # store first, while the scheduler still runs.
            scheduler.remove_all_jobs()
            # Do not wait for a tick stuck on a slow peer: shutdown is bounded.
            scheduler.shutdown(wait=False)

    def _follow_clock_steps(self, scheduler: BackgroundScheduler, stopped: threading.Event) -> None:
        """Bring every job forward after the wall clock is stepped back.

        APScheduler keeps run times in wall-clock time, so after the clock is
        stepped back by an hour no tick would run for an hour. (After a step
        forward every job is overdue and runs at once, coalesced: nothing to
        do.) Comparing the wall clock with the monotonic clock tells a step
        from the passing of time.
        """
        offset = time.time() - time.monotonic()
        while not stopped.wait(min(self.config.gossip_interval, 1.0)):
            now_offset = time.time() - time.monotonic()
            step, offset = now_offset - offset, now_offset
            if step > -CLOCK_STEP_THRESHOLD:
                continue
            log.warning("the wall clock was stepped back by %.1fs; rescheduling the gossip jobs", -step)
            now = _utcnow()
            try:
                for job in scheduler.get_jobs():
                    if job.next_run_time is None:
                        continue
                    if job.id.startswith(JOB_ID_PREFIX):
                        # Cluster jobs keep wall-clock times shared by every
                        # server (a cron hour, the interval grid): the next
                        # one from now, not the old one shifted.
                        next_time = job.trigger.get_next_fire_time(None, now)
                        if next_time is not None:
                            job.modify(next_run_time=next_time)
                        continue
                    job.modify(next_run_time=max(job.next_run_time + timedelta(seconds=step), now))
            except Exception:  # a job that finished meanwhile, or the scheduler stopping
                log.debug("rescheduling after a clock step failed", exc_info=True)

    def job_added(self, job: ClusterJob) -> None:
        """Schedule a cluster job registered after the loop started."""
        scheduler = self._scheduler  # read once: stop() may clear it meanwhile
        if scheduler is not None:
            try:
                self._add_cluster_job(scheduler, job)
            except Exception:  # the scheduler stopping meanwhile
                log.debug("could not schedule cluster job %r", job.job_id, exc_info=True)

    def _add_cluster_job(self, scheduler: BackgroundScheduler, job: ClusterJob) -> None:
        if self._job_runner is None:
            return
        scheduler.add_job(
            self._job_runner(job),
            job.trigger,
            id=job.scheduler_id,
            name=job.scheduler_id,
            executor=JOB_EXECUTOR,
            # A fire more than a gossip interval late (the loop's process
            # paused, or the lead taken after a date job's time) is skipped:
            # another server may have run it meanwhile.
            misfire_grace_time=max(1, math.ceil(self.config.gossip_interval)),
            replace_existing=True,  # added at start and by job_added at once: one job
        )

    def request_spread(self) -> None:
        scheduler = self._scheduler  # read once: stop() may clear it meanwhile
        if scheduler is not None:
            scheduler.add_job(self._watched(self.node.spread))

    # -- jobs ----------------------------------------------------------------

    def _bootstrap(self) -> None:
        """Read the master list; on any failure, retry with backoff."""
        try:
            self.node.load_master_list()
        except Exception as exc:  # whatever a store raises, bootstrap retries
            delay = self._bootstrap_delay
            self._bootstrap_delay = min(delay * 2, BOOTSTRAP_RETRY_MAX_INTERVALS * self.config.gossip_interval)
            detail = printable(str(exc)) if isinstance(exc, MasterListError) else type(exc).__name__
            log.warning("could not read the master list (%s); retrying in %.1fs", detail, delay)
            self._add_once(self._guarded(self._bootstrap), delay)
            return
        self.request_spread()  # meet the master list's servers now, not at the next tick

    def _announce(self) -> None:
        try:
            self.node.announce()
            log.debug("announced through the master list")
        except MasterListError as exc:
            # A read-only source (DNS) is only read at an announce.
            action = "write" if is_writable(self.node.master_list) else "read"
            log.warning("could not %s the master list: %s", action, printable(str(exc)))
        except Exception:
            log.exception("unexpected error while writing the master list")
        self._schedule_announce()

    def _schedule_announce(self) -> None:
        delay = self.config.master_announce_minimum + self.rng.uniform(0, self.config.master_announce_interval)
        self._add_once(self._announce, delay)

    def _add_once(self, func: Callable[[], None], delay: float) -> None:
        # One-shot jobs get fresh ids: a job that re-adds itself under its own
        # id races with the scheduler removing the finished one.
        scheduler = self._scheduler  # read once: stop() may clear it meanwhile
        if scheduler is not None:
            scheduler.add_job(func, "date", run_date=_utcnow() + timedelta(seconds=delay))

    def _guarded(self, func: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                func()
            except StoreBusy:  # the store itself warns, once a minute
                log.debug("gossip job skipped: the shared state is busy")
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
