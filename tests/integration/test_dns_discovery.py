"""Discovery through DNS against a real resolver: dnsmasq serving A and SRV
records inside a network namespace of the test's own, whose resolv.conf
(``/etc/netns/NAME/resolv.conf``, mounted by ``ip netns exec``) points at it.
The servers run in that namespace on 127.0.0.2 and up (all of 127/8 is on
``lo``) and find each other only through DNS; the test reads their views
with curl inside the namespace. Record sets change while the cluster runs
(dnsmasq restarted with other records): the servers resolve again on a
bootstrap retry and at every announce."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_clustershazbot.wire import load_server_list, parse_json

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET, ROOT
from ..support.waiting import wait_until

DNSMASQ = "/usr/sbin/dnsmasq"
IP = shutil.which("ip") or "/usr/sbin/ip"
CURL = shutil.which("curl")
PORT = 8000
SRV = "_http._tcp.shazbot.test"

#: A server: examples/app.py on an address of our choosing (the example
#: itself listens on 127.0.0.1 only).
RUNNER = (
    "import sys; from examples.app import app, shazbot; shazbot.start(); "
    "app.run(host=sys.argv[1], port=int(sys.argv[2]), threaded=True)"
)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End one process we started, by its own id (it leads its own group)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Namespace:
    """A network namespace with ``lo`` up and a resolv.conf naming 127.0.0.1."""

    def __init__(self) -> None:
        self.name = f"shazbot-dns-{secrets.token_hex(4)}"
        self.etc = Path("/etc/netns") / self.name
        self.created = False

    def create(self) -> None:
        added = subprocess.run([IP, "netns", "add", self.name], capture_output=True, text=True)
        if added.returncode != 0:
            pytest.skip(f"cannot create a network namespace (`ip netns add`: {added.stderr.strip()})")
        self.created = True
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        subprocess.run(self.exec(IP, "link", "set", "lo", "up"), check=True)

    def exec(self, *args: str) -> list[str]:
        return [IP, "netns", "exec", self.name, *args]

    def delete(self) -> None:
        if self.created:
            subprocess.run([IP, "netns", "delete", self.name], capture_output=True)
        shutil.rmtree(self.etc, ignore_errors=True)


class Dnsmasq:
    """dnsmasq in the namespace, answering only from the records given."""

    def __init__(self, namespace: Namespace, log_dir: Path) -> None:
        self.namespace = namespace
        self.log_path = log_dir / "dnsmasq.log"
        self.process: subprocess.Popen[bytes] | None = None

    def serve(self, records: list[str]) -> None:
        """(Re)start with these records (dnsmasq options such as --host-record=...)."""
        self.stop()
        seen = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.namespace.exec(
                    DNSMASQ, "--no-resolv", "--no-hosts", "--keep-in-foreground", "--listen-address=127.0.0.1",
                    "--bind-interfaces", "--pid-file=", "--user=root", "--log-queries",
                    f"--log-facility={self.log_path}", *records,
                ),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_until(lambda: b"started" in self.log_path.read_bytes()[seen:], timeout=10, what="dnsmasq to start")

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


class NsServer:
    """One cluster member inside the namespace."""

    def __init__(self, namespace: Namespace, address: str, base_url: str, master_list: str, log_dir: Path,
                 **settings: str) -> None:
        self.namespace = namespace
        self.address = address
        self.base_url = base_url
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "SHAZBOT_SECRET": GOSSIP_SECRET,
            "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
            "SHAZBOT_BASE_URL": base_url,
            "SHAZBOT_MASTER_LIST": master_list,
            "SHAZBOT_DNS_SCHEME": "http",
            "SHAZBOT_GOSSIP_INTERVAL": "0.2",
            "SHAZBOT_FAILURE_TIMEOUT": "5",
            "SHAZBOT_REQUEST_TIMEOUT": "2",
            **settings,
        }
        self.log_path = log_dir / f"{address}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NsServer:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.namespace.exec(sys.executable, "-c", RUNNER, self.address, str(PORT)),
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def online(self) -> set[str]:
        """The base URLs this server lists online (empty while it does not answer)."""
        assert self.process is not None and CURL is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.base_url} exited: {self.log_tail()}")
        answer = subprocess.run(
            self.namespace.exec(
                CURL, "-sf", "--max-time", "2", "-H", f"Authorization: Bearer {GOSSIP_SECRET}",
                f"http://{self.address}:{PORT}/clustershazbot/list",
            ),
            capture_output=True,
        )
        if answer.returncode != 0:
            return set()
        return {entry.base_url for entry in load_server_list(parse_json(answer.stdout)) if entry.online}

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


class Lab:
    """The namespace, its dnsmasq and the servers started in it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.namespace = Namespace()
        self.dns = Dnsmasq(self.namespace, tmp_path)
        self.servers: list[NsServer] = []

    def server(self, address: str, base_url: str, master_list: str, **settings: str) -> NsServer:
        server = NsServer(self.namespace, address, base_url, master_list, self.tmp_path, **settings)
        self.servers.append(server.start())
        return server

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.dns.stop()
        self.namespace.delete()

    def wait_converged(self, expected: set[str], servers: list[NsServer], timeout: float = 30) -> None:
        def converged() -> bool:
            return all(server.online() == expected for server in servers)

        try:
            wait_until(converged, timeout=timeout, interval=0.3, what=f"every view to be {sorted(expected)}")
        except AssertionError:
            details = "\n".join(f"{s.base_url}: {sorted(s.online())}\n{s.log_tail()}" for s in servers)
            raise AssertionError(f"not converged on {sorted(expected)}:\n{details}") from None


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if not os.path.exists(DNSMASQ):
        pytest.skip(f"dnsmasq is not installed ({DNSMASQ}; Debian package dnsmasq-base)")
    if not os.path.exists(IP) or CURL is None:
        pytest.skip("needs ip (iproute2) and curl")
    lab = Lab(tmp_path)
    try:
        lab.namespace.create()
        yield lab
    finally:
        lab.close()


def test_servers_started_before_their_a_records_exist_find_each_other_on_a_bootstrap_retry(lab: Lab) -> None:
    # No announce during the test: only the bootstrap retries resolve again.
    slow_announce = {"SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "600", "SHAZBOT_MASTER_ANNOUNCE_INTERVAL": "0"}
    lab.dns.serve([])  # the name does not exist yet (as before a Service has endpoints)
    addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    urls = {f"http://{address}:{PORT}/" for address in addresses}
    servers = [
        lab.server(address, f"http://{address}:{PORT}/", f"dns://shazbot.test:{PORT}", **slow_announce)
        for address in addresses
    ]
    wait_until(lambda: all("retrying in" in server.log_tail(50) for server in servers), timeout=30,
               what="every bootstrap to fail and be retried")
    wait_until(lambda: all(server.online() == {server.base_url} for server in servers), timeout=10,
               what="every server to serve, alone")

    lab.dns.serve([f"--host-record=shazbot.test,{address}" for address in addresses])
    lab.wait_converged(urls, servers)


def test_an_srv_record_set_that_grows_while_the_cluster_runs_is_followed_at_announce(lab: Lab) -> None:
    def records(count: int) -> list[str]:
        return [
            option
            for n in range(1, count + 1)
            for option in (
                f"--host-record=s{n}.shazbot.test,127.0.0.{n + 1}", f"--srv-host={SRV},s{n}.shazbot.test,{PORT}"
            )
        ]

    fast_announce = {"SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "0.5", "SHAZBOT_MASTER_ANNOUNCE_INTERVAL": "1"}
    lab.dns.serve(records(3))
    servers = [
        lab.server(f"127.0.0.{n + 1}", f"http://s{n}.shazbot.test:{PORT}/", f"dns+srv://{SRV}", **fast_announce)
        for n in (1, 2, 3)
    ]
    first_three = {f"http://s{n}.shazbot.test:{PORT}/" for n in (1, 2, 3)}
    lab.wait_converged(first_three, servers)

    # A fourth server whose own source names only itself: it never looks for
    # the others, so only their announces, resolving again, can find it.
    lab.dns.serve([*records(4), f"--srv-host=_http._tcp.alone.test,s4.shazbot.test,{PORT}"])
    fourth = lab.server("127.0.0.5", f"http://s4.shazbot.test:{PORT}/", "dns+srv://_http._tcp.alone.test",
                        **fast_announce)
    lab.wait_converged(first_three | {fourth.base_url}, [*servers, fourth])
