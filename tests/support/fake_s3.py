"""A hostile S3 endpoint for tests: a raw socket server whose answers promise
more than they deliver.

Requests whose method is in ``stall`` get ``200`` with headers claiming
``length`` bytes, then ``send`` of them, then silence until the client gives up
(or the server closes). Other requests get S3's ``404 NoSuchKey``, so that an
update can be driven past its read to a stalled write.
"""

from __future__ import annotations

import socket

from .raw_http import RawHttpServer

NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
    b"<Message>The specified key does not exist.</Message></Error>"
)


class StallingS3(RawHttpServer):
    """Listens on 127.0.0.1; ``url`` is the endpoint (for ``AWS_ENDPOINT_URL``)."""

    def __init__(self, *, length: int = 400, send: int = 20, stall: frozenset[str] = frozenset({"GET", "PUT"})) -> None:
        super().__init__()
        self.length = length
        self.send = send
        self.stall = stall
        self.hits: list[str] = []
        self.url = self.url.rstrip("/")

    def _serve(self, conn: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                method = self.read_request(conn)
                if not method:
                    return
                self.hits.append(method)
                if method not in self.stall:
                    conn.sendall(
                        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\n"
                        + f"Content-Length: {len(NO_SUCH_KEY)}\r\n\r\n".encode() + NO_SUCH_KEY
                    )
                    continue
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"stall\"\r\n"
                    + f"Content-Length: {self.length}\r\n\r\n".encode() + b"{" * self.send
                )
                self._stop.wait(60)  # silence: the client must give up by itself
                return
        except OSError:
            pass  # the client gave up: that is the point
        finally:
            conn.close()
