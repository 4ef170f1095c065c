"""Gunicorn config for a cluster member with any number of workers:

    gunicorn -c examples/gunicorn.conf.py -w 4 -b 127.0.0.1:5001 examples.app:app
"""

from flask_clustershazbot.gunicorn import *  # noqa: F403
