"""Gunicorn config for a cluster member with any number of workers:

    gunicorn -c examples/gunicorn.conf.py -w 4 -b 127.0.0.1:5001 examples.app:app

With SHAZBOT_LAME_DUCK set, SIGTERM to the master takes the server offline
first and stops it that many seconds later (docs/rolling-restarts.md).
"""

from flask_clustershazbot.gunicorn import *  # noqa: F403
