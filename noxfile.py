"""The version matrix: `nox -l` lists the sessions, `nox -s NAME` runs one.

- ``tests-lowest``: Python 3.10 with every dependency at the lowest version
  the package allows (constraints-lowest.txt), fast tier.
- ``tests-newest``: Python 3.13 with the newest releases, fast tier, with
  DeprecationWarnings as errors.
- ``tests``: the whole suite on the interpreter nox runs under (what the
  README's ``.venv/bin/python -m pytest`` runs; CI runs that command itself).
- ``build``: sdist and wheel, ``twine check --strict``, the wheel installed
  into a clean venv, and the fast tier run from the unpacked sdist against
  the installed wheel (the source package is moved out of the way).
- ``docs``: the Sphinx site with warnings as errors, and its internal links.

The fast tier is the pure unit tests (tests/unit), the Flask test-client
tests (tests/wsgi) and the quick integration files listed in FAST_TIER (in
process on 127.0.0.1, or one short-lived server: the tests that left
tests/wsgi and tests/unit for opening sockets or starting processes). The
other integration tests, chaos and browser start real clusters, nginx or
Chromium and run in ``tests`` only.
Arguments after ``--`` replace the fast tier's paths, e.g.
``nox -s tests-lowest -- tests/unit -x``.

Python 3.10 and 3.13 are looked up on PATH and, where pyenv is installed, in
its versions; a session whose interpreter is missing is skipped, with nox's
"Python interpreter 3.10 not found" message (pass
``--no-error-on-missing-interpreters`` on CI, where nox errors by default).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
FAST_TIER = [
    "tests/unit",
    "tests/wsgi",
    *(
        f"tests/integration/test_{name}.py"
        for name in (
            "deadline", "lifecycle", "masterlist", "masterlist_hostile", "platform", "production_live", "security",
            "sqlite_store",
        )
    ),
]
TEST_EXTRAS = ".[metrics,s3,dns]"

nox.options.sessions = ["tests-lowest", "tests-newest", "build", "docs"]


def _pyenv_bins() -> list[str]:
    """bin/ of each pyenv-installed CPython, newest first."""
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False).stdout.strip()
    if not root:
        root = os.path.expanduser("~/.pyenv")

    def version(bin_dir: str) -> tuple[int, ...]:
        parts = Path(bin_dir).parent.name.split(".")
        return tuple(int(part) if part.isdigit() else -1 for part in parts)

    return sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin")), key=version, reverse=True)


def _interpreter(version: str) -> str:
    """pyenv's real python3.X where there is one, since pyenv's shim for a
    version that is not the global one is on PATH but fails; else "3.X", which
    nox looks up on PATH (and skips the session, saying so, when missing)."""
    for bin_dir in _pyenv_bins():
        candidate = os.path.join(bin_dir, f"python{version}")
        if os.access(candidate, os.X_OK):
            return candidate
    return version


def _pytest(session: nox.Session, *args: str) -> None:
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *args)


@nox.session(name="tests-lowest", python=_interpreter("3.10"))
def tests_lowest(session: nox.Session) -> None:
    """Fast tier on Python 3.10 with the lowest allowed dependency versions."""
    session.install("-c", "constraints-lowest.txt", TEST_EXTRAS, "-r", "requirements-test.txt")
    session.run("python", "-m", "pip", "freeze", silent=False)
    _pytest(session, *(session.posargs or FAST_TIER))


@nox.session(name="tests-newest", python=_interpreter("3.13"))
def tests_newest(session: nox.Session) -> None:
    """Fast tier on Python 3.13 with the newest releases; DeprecationWarnings are errors."""
    session.install("--upgrade", "--upgrade-strategy", "eager", TEST_EXTRAS, "-r", "requirements-test.txt")
    session.run("python", "-m", "pip", "freeze", silent=False)
    _pytest(session, "-W", "error::DeprecationWarning", *(session.posargs or FAST_TIER))


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """The whole suite on the interpreter nox runs under, in the dev venv
    (``pip install -r requirements-dev.txt`` first, as the README says)."""
    if session.posargs:
        session.run(sys.executable, "-m", "pytest", *session.posargs)
        return
    # The chaos tier alone, then the rest (as .ci/run does): together they
    # would crowd two cores.
    session.run(sys.executable, "-m", "pytest", "-m", "chaos")
    session.run(sys.executable, "-m", "pytest", "-m", "not chaos")


@nox.session
def build(session: nox.Session) -> None:
    """Build, check, install the wheel alone, and test it from the unpacked sdist."""
    session.install("build", "twine")
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    # build makes the sdist, then the wheel from that sdist: both are checked.
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    sdists, wheels = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        session.error(f"expected one sdist and one wheel in {dist}, found {sdists + wheels}")
    session.run("python", "-m", "twine", "check", "--strict", str(sdists[0]), str(wheels[0]))

    # The wheel file itself (so pip never builds the source tree), with its
    # dependencies and extras, then what the tests need.
    session.install(f"{wheels[0]}[metrics,s3,dns]", "-r", "requirements-test.txt")

    unpacked = Path(tempfile.mkdtemp(prefix="shazbot-sdist-"))
    try:
        with tarfile.open(sdists[0]) as archive:
            archive.extractall(unpacked, filter="data")
        (tree,) = unpacked.iterdir()
        # The tests must import the installed wheel, never the sdist's copy.
        shutil.rmtree(tree / "flask_clustershazbot")
        with session.chdir(tree):
            where = session.run("python", "-c", "import flask_clustershazbot as m; print(m.__file__, m.__version__)",
                                silent=True)
            if not where or "site-packages" not in where:
                session.error(f"flask_clustershazbot does not come from the installed wheel: {where!r}")
            session.log(f"testing {where.strip()} from {tree}")
            _pytest(session, *(session.posargs or FAST_TIER))
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)


@nox.session
def docs(session: nox.Session) -> None:
    """The Sphinx site with warnings as errors, then its internal links (no
    internet on CI: linkcheck_ignore in docs/conf.py skips external URLs)."""
    session.install("-r", "requirements-docs.txt", "-e", ".")
    out = Path(session.create_tmp()) / "docs"
    shutil.rmtree(out, ignore_errors=True)
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", str(out / "html"))
    session.run("sphinx-build", "-W", "--keep-going", "-b", "linkcheck", "docs", str(out / "linkcheck"))
