"""The test tiers: one folder each under tests/, one pytest marker each."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

#: Folder and marker names; the markers and what each tier may do are
#: registered in pyproject.toml.
TIERS = frozenset({"unit", "wsgi", "integration", "chaos", "browser"})

#: Tiers whose tests must not open sockets or start processes.
IN_PROCESS = frozenset({"unit", "wsgi"})


def tier_of(path: Path) -> str | None:
    """The tier of a test file: the first folder under tests/, if it is one."""
    try:
        folder = path.resolve().relative_to(TESTS).parts[0]
    except (ValueError, IndexError):
        return None
    return folder if folder in TIERS else None
