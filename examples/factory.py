"""The same member as examples/app.py, built with an app factory and init_app.

    flask --app "examples.factory:create_app()" run --port 5001
    gunicorn -b 127.0.0.1:5001 "examples.factory:create_app()"

As with other Flask extensions, one module-level ``Shazbot`` serves every app
the factory makes (each app is its own cluster member, with its own
configuration); inside a request or an app context it acts for that app.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from flask_clustershazbot import Shazbot

shazbot = Shazbot()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config or {})  # SHAZBOT_* keys here win over the environment
    shazbot.init_app(app)

    @app.get("/")
    def index() -> dict[str, Any]:
        return {"server": shazbot.config.base_url, "online": [s.base_url for s in shazbot.online()]}

    return app
