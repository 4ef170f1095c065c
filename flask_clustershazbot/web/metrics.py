"""Prometheus metrics of this server, through ``prometheus_client`` (the
optional ``metrics`` extra: ``pip install Flask-ClusterShazbot[metrics]``).

Served at ``GET <prefix>/metrics`` with the gossip or control secret (a
Prometheus scrape config sets it with ``authorization: {credentials: ...}``).
Under gunicorn the numbers are the server's, added up over every worker past
and present, not one worker's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..node import ClusterNode

__all__ = ["render_metrics", "metrics_available"]

#: node counter -> (metric, labels)
_REFUSED = {
    "entries_dropped_stale": "stale",
    "entries_dropped_future": "future",
    "entries_refused_not_allowed": "not_allowed",
    "entries_refused_view_full": "view_full",
    "entries_refused_metadata": "metadata",
}
_COUNTERS = {
    "exchanges_sent": ("shazbot_exchanges_sent", "Gossip exchanges this server started."),
    "exchanges_received": ("shazbot_exchanges_received", "Gossip exchanges peers started with this server."),
    "failures_detected": ("shazbot_failures_detected", "Peers declared offline for a missing heartbeat."),
    "failures_detected_by_probes": (
        "shazbot_failures_detected_by_probes",
        "Peers declared offline after a failed exchange that witnesses confirmed.",
    ),
    "probe_rounds": ("shazbot_probe_rounds", "Suspicion rounds this server ran (witnesses asked)."),
    "probe_requests_sent": ("shazbot_probe_requests_sent", "Probe requests this server sent to witnesses."),
    "probe_checks": ("shazbot_probe_checks", "Probes this server ran as a witness."),
    "refutations": ("shazbot_refutations", "False claims about this server it refuted."),
    "master_list_reads": ("shazbot_master_list_reads", "Successful master-list reads."),
    "master_list_writes": ("shazbot_master_list_writes", "Successful master-list writes."),
    "master_list_read_failures": ("shazbot_master_list_read_failures", "Failed master-list reads."),
    "master_list_write_failures": ("shazbot_master_list_write_failures", "Failed master-list writes."),
}
_MARKS = {
    "exchange_success": ("shazbot_last_exchange_success_timestamp_seconds", "When an exchange last succeeded."),
    "master_list_read": ("shazbot_master_list_last_read_timestamp_seconds", "When the master list was last read."),
    "master_list_write": ("shazbot_master_list_last_write_timestamp_seconds", "When the master list was last written."),
}


def metrics_available() -> bool:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


def render_metrics(node: ClusterNode) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    counts, marks = node.stats.totals()
    entries = node.entries()
    own = node.own_entry()

    class Collector:
        def collect(self) -> Iterator[Any]:
            for key, (name, doc) in _COUNTERS.items():
                family = CounterMetricFamily(name, doc)
                family.add_metric([], counts.get(key, 0))
                yield family
            failed = CounterMetricFamily("shazbot_exchanges_failed", "Exchanges that failed, by reason.",
                                         labels=["reason"])
            for key, value in sorted(counts.items()):
                if key.startswith("exchanges_failed_"):
                    failed.add_metric([key[len("exchanges_failed_"):]], value)
            yield failed
            refused = CounterMetricFamily("shazbot_entries_refused", "Incoming entries refused, by reason.",
                                          labels=["reason"])
            for key, reason in _REFUSED.items():
                refused.add_metric([reason], counts.get(key, 0))
            yield refused
            servers = GaugeMetricFamily("shazbot_servers", "Servers in this server's view, by status.",
                                        labels=["status"])
            online = sum(1 for e in entries if e.online)
            servers.add_metric(["online"], online)
            servers.add_metric(["offline"], len(entries) - online)
            yield servers
            yield GaugeMetricFamily("shazbot_self_online", "1 when this server is online.", value=int(own.online))
            for key, (name, doc) in _MARKS.items():
                if key in marks:
                    yield GaugeMetricFamily(name, doc, value=marks[key])

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
