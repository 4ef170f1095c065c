"""Where one server keeps its view: in memory (one process) or in SQLite
(every process of one server, e.g. gunicorn workers, shares it), and how the
processes of one server pick the one that runs the gossip loop.
"""
