"""A minimal cluster member, configured only from SHAZBOT_* environment variables.

    flask --app examples/app.py run --port 5001
    gunicorn -b 127.0.0.1:5001 examples.app:app
    python examples/app.py            # serves on the port of SHAZBOT_BASE_URL

See README.md "Configuration" for the variables.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from flask_clustershazbot import Shazbot

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
logging.getLogger("apscheduler").setLevel(logging.WARNING)

app = Flask(__name__)
shazbot = Shazbot(app)


@app.get("/")
def index() -> dict[str, Any]:
    return {
        "server": shazbot.config.base_url,
        "online": shazbot.is_online,
        "peers_online": [server.base_url for server in shazbot.online()],
    }


def main() -> None:
    # Python ends on SIGTERM without running atexit hooks: turn it into a
    # normal exit so the server says goodbye (gunicorn does this by itself).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # PORT (if set) is where to listen, e.g. behind a proxy; else the base URL's port.
    port = int(os.environ.get("PORT") or urlsplit(shazbot.config.base_url).port or 80)
    shazbot.start()
    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
