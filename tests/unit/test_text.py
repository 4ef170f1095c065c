"""printable(): what logs and the CLI show of text they did not validate."""

from __future__ import annotations

import pytest

from flask_clustershazbot.protocol.text import is_printable, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://a.example:8080/app/", "http://a.example:8080/app/"),
        ("http://h/caf\u00e9/\u4e2d/", "http://h/caf\u00e9/\u4e2d/"),  # printable non-ASCII stays readable
        ("with space", "with space"),
        ("http://h/\x9b2J/", "http://h/\\x9b2J/"),  # CSI: clears the screen
        ("\x9d0;title\x9c", "\\x9d0;title\\x9c"),  # OSC ... ST: sets the window title
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("a\x00b\x07c\x7f", "a\\x00b\\x07c\\x7f"),
        ("line\nbreak\r\ttab", "line\\x0abreak\\x0d\\x09tab"),
        ("\u202egnp.exe", "\\u202egnp.exe"),  # right-to-left override
        ("zero\u200bwidth\u200d\ufeff", "zero\\u200bwidth\\u200d\\ufeff"),
        ("\u2066isolate\u2069", "\\u2066isolate\\u2069"),
        ("soft\u00adhyphen", "soft\\xadhyphen"),
        ("sep\u2028par\u2029", "sep\\u2028par\\u2029"),
        ("nbsp\u00a0ideo\u3000", "nbsp\\xa0ideo\\u3000"),
        ("\ud800lone", "\\ud800lone"),
        ("\U000e0041tag", "\\U000e0041tag"),
        ("", ""),
    ],
)
def test_printable_escapes_exactly_what_is_not_printable(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert is_printable(printable(text))
    assert is_printable(text) is (text == shown)


def test_printable_accepts_any_object() -> None:
    assert printable(42) == "42" and printable(None) == "None"
