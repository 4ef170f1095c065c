"""Where one server keeps its view and counters: in memory (one process) or in
SQLite (every process of one server, e.g. gunicorn workers, shares it), and
how the processes of one server pick the one that runs the gossip loop.

:mod:`.server` is the one interface the member uses (:class:`ProcessGroup`);
:mod:`.base` defines the store and its counters (``StateStore``, ``Stats``);
:mod:`.sqlite`, :mod:`.election` and :mod:`.process` are its internals, and
:mod:`.identity` names the cluster a saved view belongs to.
"""
