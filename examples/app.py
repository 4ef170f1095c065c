"""A minimal cluster member, configured only from SHAZBOT_* environment variables.

    flask --app examples/app.py run --port 5001
    gunicorn -b 127.0.0.1:5001 examples.app:app
    python examples/app.py            # serves on the port of SHAZBOT_BASE_URL

See README.md "Configuration" for the variables.
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import sys
import threading
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


def stop_on_sigterm(*_: object) -> None:
    """SIGTERM: with SHAZBOT_LAME_DUCK, go offline and keep serving that long
    in another thread, then stop; a second SIGTERM (or none configured)
    stops at once. Python ends on SIGTERM without running atexit hooks: the
    exit here is a normal one, so the server says goodbye."""
    if shazbot.config.lame_duck > 0 and not sigterms:
        sigterms.append("lame duck")
        threading.Thread(target=lame_duck_then_stop, name="lame-duck", daemon=True).start()
        return
    sigterms.append("exit")
    sys.exit(0)  # at exit, shutdown() ends a lame duck under way and says goodbye


def lame_duck_then_stop() -> None:
    try:
        shazbot.shutdown()  # offline, serving for SHAZBOT_LAME_DUCK seconds, then goodbye
    finally:
        # Whatever happened, the SIGTERM stops the server.
        if sigterms == ["lame duck"]:  # not exiting already after a second SIGTERM
            _thread.interrupt_main()  # ends app.run() in the main thread, as Ctrl-C does


sigterms: list[str] = []


def main() -> None:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    # PORT (if set) is where to listen, e.g. behind a proxy; else the base URL's port.
    port = int(os.environ.get("PORT") or urlsplit(shazbot.config.base_url).port or 80)
    shazbot.start()
    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
