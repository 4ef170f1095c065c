"""A cluster member with one interval cluster job, for tests with real servers:

    CLUSTER_JOB_LOG=/tmp/fires.txt gunicorn -c examples/gunicorn.conf.py -w 2 \
        tests.support.cluster_jobs_app:app

At each fire time the owner of the job appends "<base_url> <pid> <unix time>"
to the file named by CLUSTER_JOB_LOG (every CLUSTER_JOB_INTERVAL seconds, 1 by
default). Configured otherwise from SHAZBOT_* variables, as examples/app.py.
"""

from __future__ import annotations

import logging
import os
import time

from flask import Flask

from flask_clustershazbot import Shazbot

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
logging.getLogger("apscheduler").setLevel(logging.WARNING)

app = Flask(__name__)
shazbot = Shazbot(app)


@shazbot.cluster_job("report", "interval", seconds=float(os.environ.get("CLUSTER_JOB_INTERVAL", "1")))
def report() -> None:
    """Record this fire: which server, which process, when."""
    with open(os.environ["CLUSTER_JOB_LOG"], "a") as log:
        log.write(f"{shazbot.config.base_url} {os.getpid()} {time.time():.3f}\n")
