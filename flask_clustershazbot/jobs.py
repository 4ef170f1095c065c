"""Jobs that run once per cluster: ``@shazbot.cluster_job(job_id, trigger, ...)``.

A cluster job is registered on the extension object (so it serves every app
the object is given, before or after ``init_app``). Every server schedules it
in its gossip loop, so under gunicorn only the leading worker does, and the
job moves with the lead. At each fire time a server runs the job only if it
owns ``job_id`` at that moment in its view (as ``shazbot.owns(job_id,
**filters)`` says: the rendezvous owner among the online servers). Once views agree, each fire time
runs on exactly one server; while a change spreads it may run twice or not at
all (docs/cluster-jobs.md). It is not a lock.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from .errors import StoreBusy
from .node import ClusterNode
from .protocol.ownership import check_filters, owner_in_view

__all__ = ["ClusterJob", "ClusterJobs", "JobFunc", "TRIGGERS", "JOB_ID_PREFIX", "JOB_EXECUTOR", "JOB_THREADS"]

log = logging.getLogger("flask_clustershazbot")

JobFunc = Callable[[], object]

#: The APScheduler triggers a cluster job may use, by name.
TRIGGERS: Mapping[str, type[BaseTrigger]] = {"interval": IntervalTrigger, "cron": CronTrigger, "date": DateTrigger}

#: Scheduler job ids of cluster jobs are this prefix and the job id (the
#: loop's own jobs have other ids).
JOB_ID_PREFIX = "cluster-job:"

#: The loop's executor for cluster jobs, apart from the gossip jobs' one, so
#: a slow job never delays a tick...
JOB_EXECUTOR = "cluster_jobs"
#: ... with at most this many jobs running at once (further fires wait).
JOB_THREADS = 4

# Interval jobs without a start_date count their fire times from here, so
# every server (and every worker that takes the lead) fires at the same
# wall-clock moments: a handover between two servers then has one fire time
# at stake, not a phase difference.
_INTERVAL_ORIGIN = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class ClusterJob:
    """One registered cluster job."""

    job_id: str
    func: JobFunc
    trigger: BaseTrigger
    #: Metadata filters: the job runs on the owner among the online servers
    #: whose metadata has these values.
    filters: Mapping[str, str] = field(default_factory=dict)

    @property
    def scheduler_id(self) -> str:
        """The job's id in the gossip loop's scheduler."""
        return JOB_ID_PREFIX + self.job_id


def make_trigger(trigger: str, trigger_args: Mapping[str, Any]) -> BaseTrigger:
    """The APScheduler trigger ``trigger`` ("interval", "cron" or "date")
    built from its arguments, in UTC unless ``timezone`` is given. Raises
    ``ValueError`` at once for a bad name or argument."""
    cls = TRIGGERS.get(trigger) if isinstance(trigger, str) else None
    if cls is None:
        raise ValueError(f"cluster job trigger must be one of {', '.join(TRIGGERS)}, not {trigger!r}")
    args = {"timezone": timezone.utc, **trigger_args}
    if cls is IntervalTrigger and args.get("jitter"):
        # APScheduler adds each jitter to the last jittered time: fire times
        # drift off the grid every server shares, and servers disagree.
        raise ValueError("interval cluster jobs take no jitter: every server must fire at the same moments")
    if cls is IntervalTrigger and args.get("start_date") is None:
        args["start_date"] = _INTERVAL_ORIGIN
    try:
        return cls(**args)
    except TypeError as exc:  # an unknown argument: say so as bad values are said
        raise ValueError(f"bad arguments for a {trigger!r} cluster job trigger: {exc}") from None


class ClusterJobs:
    """The cluster jobs of one extension object, and the loops to tell about
    jobs registered after they started."""

    def __init__(self) -> None:
        self._jobs: dict[str, ClusterJob] = {}
        self._lock = threading.Lock()
        self._listeners: weakref.WeakSet[_Listener] = weakref.WeakSet()

    def add(
        self,
        job_id: str,
        func: JobFunc,
        trigger: str,
        filters: Mapping[str, str] | None,
        trigger_args: Mapping[str, Any],
    ) -> ClusterJob:
        """Register a job; ``ValueError`` if ``job_id`` is taken or empty, or
        the trigger or its arguments are bad."""
        if not isinstance(job_id, str) or not job_id:
            raise ValueError("a cluster job id is a non-empty string")
        if not callable(func):
            raise TypeError("cluster_job decorates a function")
        checked_filters = check_filters(filters or {})
        job = ClusterJob(job_id, func, make_trigger(trigger, trigger_args), checked_filters)
        with self._lock:
            held = self._jobs.get(job_id)
            if held is not None and not _same_job(held, job):
                raise ValueError(f"a cluster job with id {job_id!r} is already registered")
            # The same declaration again (an app factory called once per
            # test) replaces the job: the newest function runs, once.
            self._jobs[job_id] = job
            listeners = list(self._listeners)
        for listener in listeners:
            listener.job_added(job)
        return job

    def all(self) -> list[ClusterJob]:
        """Every registered job, in registration order."""
        with self._lock:
            return list(self._jobs.values())

    def subscribe(self, listener: _Listener) -> None:
        """Tell ``listener`` (a gossip loop; held weakly) of every job added from now on."""
        with self._lock:
            self._listeners.add(listener)

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)


def _same_job(a: ClusterJob, b: ClusterJob) -> bool:
    """The same declaration again: same function (by qualified name and
    module), trigger and filters."""
    def where(job: ClusterJob) -> tuple[object, object]:
        return getattr(job.func, "__module__", None), getattr(job.func, "__qualname__", None)

    return where(a) == where(b) and str(a.trigger) == str(b.trigger) and dict(a.filters) == dict(b.filters)


class _Listener(Protocol):
    """What :meth:`ClusterJobs.subscribe` calls (the gossip loop)."""

    def job_added(self, job: ClusterJob) -> None:
        """Schedule ``job`` now, if running."""


def job_runner(job: ClusterJob, app: Flask, node: ClusterNode) -> Callable[[], None]:
    """What the scheduler calls at each fire time: run ``job.func`` inside
    ``app``'s context if ``node``'s server owns the job now, in its view (so
    a drained server runs nothing); never raise."""
    own_url = node.config.base_url

    def run() -> None:
        try:
            with app.app_context():
                view = node.entries()
                if not node.knows_cluster(view):
                    # Alone in its view (the master list unread, no peer yet)
                    # a server would own every job of the cluster.
                    log.debug("cluster job %r skipped: the cluster is not known yet", job.job_id)
                    return
                if owner_in_view(job.job_id, view, job.filters) != own_url:
                    log.debug("cluster job %r: another server owns it", job.job_id)
                    return
                log.debug("cluster job %r: running", job.job_id)
                job.func()
        except StoreBusy:  # the store itself warns, once a minute
            log.warning("cluster job %r skipped: the shared state is busy", job.job_id)
        except Exception:  # never into the scheduler: it would only log it without the id
            log.exception("cluster job %r failed", job.job_id)

    return run
