"""Blinker signals, in Flask's style, for membership transitions.

They are sent from the process that runs this server's gossip loop (one per
server, also under gunicorn), once per transition, with the Flask app as the
sender, after each gossip job, so a change made by any worker is signalled
within one gossip interval. The first view the loop sees counts as a change
from nothing: every server known online is signalled online once.

Receivers run in a background thread of the loop's process
(``shazbot-signals``), inside ``app.app_context()``; never in the gossip loop
itself, which only hands over its latest view and goes on. Signals are sent in
order (``server_online`` for each server, then ``server_offline``, then
``server_changed``, then one ``view_changed`` per batch), and each receiver is
called on its own: one that raises is logged with its name, and the other
receivers, and the later signals, still run. A transition counts as
delivered only once it has been sent. A slow or blocking receiver delays the signals after it, which then
coalesce (they describe the view as it is when the receiver returns; a server
that went offline and back meanwhile is not signalled), but never heartbeats
or failure detection. At shutdown, signals not yet sent are dropped after at
most one second.

``server_changed`` is sent when the metadata of a server already known to
the signals (in the view last delivered) differs from what was last
delivered for it, online or offline alike: ``set_metadata`` on that server,
or its new SHAZBOT_METADATA after a restart. A transition is not also a
change: a server that goes online or offline in the same batch gets only
``server_online`` or ``server_offline``, whose ``entry`` carries its metadata
(so a new server with metadata gets ``server_online`` alone). Heartbeats
alone signal nothing. A batch of metadata changes only still ends with a
``view_changed``, with empty ``online`` and ``offline`` lists. For example::

    from flask_clustershazbot import signals

    @signals.server_offline.connect_via(app)
    def forget(app, base_url, entry):
        upstreams.discard(base_url)
"""

from __future__ import annotations

from blinker import Namespace

__all__ = ["server_online", "server_offline", "server_changed", "view_changed"]

_signals = Namespace()

#: ``(app, base_url=str, entry=ServerEntry)``: a server is now listed online.
server_online = _signals.signal("shazbot-server-online")
#: ``(app, base_url=str, entry=ServerEntry)``: a server is now listed offline (or was forgotten).
server_offline = _signals.signal("shazbot-server-offline")
#: ``(app, base_url=str, entry=ServerEntry)``: a known server's metadata changed (``entry.meta`` is the new one).
server_changed = _signals.signal("shazbot-server-changed")
#: ``(app, online=[base URLs], offline=[base URLs], view=[ServerEntry])``: once per batch of transitions
#: or metadata changes.
view_changed = _signals.signal("shazbot-view-changed")
