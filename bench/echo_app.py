"""examples/app.py plus a plain endpoint that echoes JSON, for bench/http_throughput.py."""

from __future__ import annotations

import json

from flask import Response, request

from examples.app import app, shazbot

__all__ = ["app", "shazbot"]


@app.post("/echo")
def echo() -> Response:
    return Response(json.dumps(json.loads(request.get_data())), mimetype="application/json")
