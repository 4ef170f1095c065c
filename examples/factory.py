"""The same member as examples/app.py, built with an app factory and init_app.

    flask --app "examples.factory:create_app()" run --port 5001
    gunicorn -b 127.0.0.1:5001 "examples.factory:create_app()"

One ``Shazbot`` is one cluster member, so the factory makes one per app and
the rest of the code reaches it as ``current_app.extensions["shazbot"]``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from flask_clustershazbot import Shazbot


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config or {})  # SHAZBOT_* keys here win over the environment
    Shazbot().init_app(app)

    @app.get("/")
    def index() -> dict[str, Any]:
        shazbot: Shazbot = current_app.extensions["shazbot"]
        return {"server": shazbot.config.base_url, "online": [s.base_url for s in shazbot.online()]}

    return app
