"""Blinker signals, in Flask's style, for membership transitions.

They are sent from the process that runs this server's gossip loop (one per
server, also under gunicorn), once per transition, with the Flask app as the
sender, after each gossip job, so a change made by any worker is signalled
within one gossip interval. The first view the loop sees counts as a change
from nothing: every server known online is signalled online once.

    from flask_clustershazbot import signals

    @signals.server_offline.connect_via(app)
    def forget(app, base_url, entry):
        upstreams.discard(base_url)
"""

from __future__ import annotations

from blinker import Namespace

__all__ = ["server_online", "server_offline", "view_changed"]

_signals = Namespace()

#: ``(app, base_url=str, entry=ServerEntry)``: a server is now listed online.
server_online = _signals.signal("shazbot-server-online")
#: ``(app, base_url=str, entry=ServerEntry)``: a server is now listed offline (or was forgotten).
server_offline = _signals.signal("shazbot-server-offline")
#: ``(app, online=[base URLs], offline=[base URLs], view=[ServerEntry])``: once per batch of transitions.
view_changed = _signals.signal("shazbot-view-changed")
