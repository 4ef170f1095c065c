"""A throwaway certificate authority for TLS tests, made with the ``openssl``
command line (the tests that need it skip when it is missing), and an HTTPS
master-list store that wants a client certificate to write."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .masterlist_server import MasterListServer

__all__ = ["Pki", "make_pki", "TlsMasterListServer", "server_context"]


@dataclass(frozen=True)
class Pki:
    """Files of a test CA: a server certificate for 127.0.0.1, a client
    certificate, both signed by ``ca``, and an unrelated CA (``other_ca``)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path

    def env(self, *, client: bool = True) -> dict[str, str]:
        """SHAZBOT_TLS_* for a server of this CA, with or without the client certificate."""
        env = {"SHAZBOT_TLS_CA": str(self.ca)}
        if client:
            env |= {"SHAZBOT_TLS_CERT": str(self.client_cert), "SHAZBOT_TLS_KEY": str(self.client_key)}
        return env

    def request_args(self) -> dict[str, Any]:
        """``verify`` and ``cert`` for a requests call as a member of this CA."""
        return {"verify": str(self.ca), "cert": (str(self.client_cert), str(self.client_key))}


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    return cert, key


def _make_leaf(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    cert, key, request, ext = (directory / f"{name}{suffix}" for suffix in (".pem", ".key", ".csr", ".ext"))
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={name}",
        "-keyout", str(key), "-out", str(request), cwd=directory,
    )
    ext.write_text(extensions)
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
        "-days", "2", "-out", str(cert), "-extfile", str(ext), cwd=directory,
    )
    return cert, key


def make_pki(directory: Path) -> Pki:
    """A CA with a server and a client certificate in ``directory``; skips
    the test when the ``openssl`` command is missing."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    directory.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(directory, "cluster-ca")
    other_ca, _ = _make_ca(directory, "other-ca")
    server = _make_leaf(
        directory, "server", ca,
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    client = _make_leaf(directory, "client", ca, "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    return Pki(ca[0], server[0], server[1], client[0], client[1], other_ca)


def server_context(pki: Pki, require_client_cert: bool) -> ssl.SSLContext:
    """A server-side context with the test CA's server certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


class TlsMasterListServer(MasterListServer):
    """The test master-list store over HTTPS: anyone who trusts the CA may
    read; a PUT without a client certificate of the CA gets 403 (as a store
    behind a proxy with optional client verification would answer)."""

    def __init__(self, pki: Pki) -> None:
        super().__init__()
        self.forbidden = 0
        context = server_context(pki, require_client_cert=False)
        store = self
        plain_put = self.server.RequestHandlerClass.do_PUT  # type: ignore[attr-defined]

        def do_put(handler: Any) -> None:
            if not handler.connection.getpeercert():
                with store.lock:
                    store.forbidden += 1
                handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
                handler._send(403)
                return
            plain_put(handler)

        self.server.RequestHandlerClass.do_PUT = do_put  # type: ignore[attr-defined]
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.port}/masterlist.json"
