"""Master-list stores: where new servers find the cluster (docs/protocol.md section 6).

``read()`` returns the entries of the stored list. ``update(merge)`` is one
read-merge-write: it reads the list, hands its entries to ``merge`` (which
returns what to store) and writes the result, so that concurrent writers lose
nothing: under a file lock for ``file://`` (:mod:`.file`); with ``If-Match``
and a retry on 412 for an HTTP store that gives ETags (:mod:`.http`) and for
S3 (:mod:`.s3`). ``dns://`` and ``dns+srv://`` sources (:mod:`.dns`) are
read-only: :func:`.core.is_writable` tells, and the node then only reads.
:func:`.backend.open_master_list` chooses one by scheme.

Every failure of a store, whatever raised it, leaves as
:class:`~flask_clustershazbot.errors.MasterListError`. Each HTTP or S3 call
has a total deadline (connect, headers and body) of the request timeout; an
``update`` as a whole, with its retries, of ``UPDATE_BUDGET_TIMEOUTS``
request timeouts.

This package imports nothing at import time, so that :mod:`.location` (URL
parsing, used by the configuration) loads no backend.
"""
