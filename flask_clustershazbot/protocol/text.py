"""Text that is safe to show: on a terminal, in a log line, in a CLI table.

Base URLs are refused unless :func:`is_printable` (see ``urls.py``), but text
can reach an operator by other paths (a header, a file, an older server's
state), so everything shown goes through :func:`printable` as well.
"""

from __future__ import annotations

__all__ = ["is_printable", "printable"]


def is_printable(text: str) -> bool:
    """Whether every character of ``text`` is printable.

    :meth:`str.isprintable`: no C0 or C1 controls (``\\x1b``, ``\\x9b``), no
    format characters (bidi overrides such as ``\\u202e``, zero-width
    characters), no line or paragraph separators, no surrogates, no private
    use or unassigned code points, no whitespace other than the ASCII space.
    """
    return text.isprintable()


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: object) -> str:
    """``text`` (made a string) with every non-printable character escaped as
    ``repr`` would (``\\x9b``, ``\\u202e``), for logs and the CLI.

    Printable text comes back unchanged, so ordinary URLs read as they are.
    """
    value = text if isinstance(text, str) else str(text)
    if value.isprintable():
        return value
    return "".join(char if char.isprintable() else _escape(char) for char in value)
