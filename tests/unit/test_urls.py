import pytest

from flask_clustershazbot.protocol.allowlist import PeerAllowList, parse_allowed_peers
from flask_clustershazbot.urls import InvalidBaseUrl, endpoint_url, normalize_base_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://A:443", "https://a/"),
        ("https://a/", "https://a/"),
        ("HTTPS://Example.COM", "https://example.com/"),
        ("http://h:80/", "http://h/"),
        ("http://h:8080", "http://h:8080/"),
        ("https://h:80", "https://h:80/"),
        ("http://h/app//", "http://h/app/"),
        ("http://h/App", "http://h/App/"),
        ("http://[::1]:5000", "http://[::1]:5000/"),
        ("http://127.0.0.1:5001/", "http://127.0.0.1:5001/"),
    ],
)
def test_same_server_same_key(given: str, expected: str) -> None:
    assert normalize_base_url(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ftp://h/",
        "h:80",
        "/relative",
        "http://",
        "http://h/?q=1",
        "http://h/#x",
        "http://user:pw@h/",
        "http://h:99999/",
        "http://h:port/",
        "http://h/a b",
        "http://h/\x00",
        "javascript:alert(1)",
        "http://" + "a" * 3000,
    ],
)
def test_refuses_what_is_not_a_base_url(bad: str) -> None:
    with pytest.raises(InvalidBaseUrl):
        normalize_base_url(bad)


def test_endpoint_url_joins_prefix() -> None:
    assert endpoint_url("http://h/app/", "/clustershazbot", "gossip") == "http://h/app/clustershazbot/gossip"


# -- one canonical spelling per server (issue 9, item 9) ----------------------


@pytest.mark.parametrize(
    ("spellings", "canonical"),
    [
        (["http://[0:0:0:0:0:0:0:1]:8080/", "http://[::1]:8080/", "http://[::0001]:8080",
          "http://[0000:0000::1]:8080//"], "http://[::1]:8080/"),
        (["http://[2001:DB8::1]/", "http://[2001:db8::1]/", "http://[2001:0DB8:0:0:0:0:0:1]:80/",
          "HTTP://[2001:db8:0::1]"], "http://[2001:db8::1]/"),
        (["https://[2001:db8:0:0:1:0:0:1]/", "https://[2001:db8::1:0:0:1]:443"], "https://[2001:db8::1:0:0:1]/"),
        (["http://[::ffff:192.0.2.1]/", "http://[::FFFF:C000:0201]/", "http://[0:0:0:0:0:ffff:192.0.2.1]/"],
         "http://[::ffff:192.0.2.1]/"),
        (["http://bücher.example/", "http://BÜCHER.example/", "http://xn--bcher-kva.example/",
          "http://XN--BCHER-KVA.EXAMPLE:80"], "http://xn--bcher-kva.example/"),
        (["https://ÄRZTE.example:8443/app", "https://xn--rzte-koa.example:8443/app/"],
         "https://xn--rzte-koa.example:8443/app/"),
        (["http://faß.de/"], "http://xn--fa-hia.de/"),
        (["http://bücher\u3002example/"], "http://xn--bcher-kva.example/"),  # an ideographic full stop
        (["http://my_service:5000/", "http://MY_SERVICE:5000"], "http://my_service:5000/"),  # not IDNA: kept
    ],
)
def test_every_spelling_of_a_server_has_one_key(spellings: list[str], canonical: str) -> None:
    assert {normalize_base_url(s) for s in spellings} == {canonical}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("http://[fe80::1%25eth0]/", "zone"),
        ("http://[fe80::1%eth0]:8080/", "zone"),
        ("http://[v1.fe]/", "IPv6"),
        ("http://[1.2.3.4]/", ""),
        ("http://[::1::2]/", ""),
        ("http://xn--zz.example/", "international"),
        ("http://xn--.example/", "international"),
        ("http://-bücher.example/", "international"),
        ("http://bü_cher.example/", "international"),
        ("http://\u2603\u200d.example/", ""),
    ],
)
def test_refuses_hosts_that_have_no_canonical_form(bad: str, reason: str) -> None:
    with pytest.raises(InvalidBaseUrl) as caught:
        normalize_base_url(bad)
    assert reason in str(caught.value)


# -- printable characters only (issue 15, item 6) -----------------------------

#: Characters a terminal or a log viewer would act on or hide.
NON_PRINTABLE = [
    "\x00", "\x07", "\x08", "\x1b", "\x7f",  # C0 and DEL
    "\x85", "\x9b", "\x9c", "\x9d", "\x9f",  # C1: NEL, CSI, ST, OSC, APC
    "\u00ad",  # soft hyphen (Cf)
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",  # zero-width (Cf)
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",  # bidi (Cf)
    "\u2028", "\u2029",  # line and paragraph separators
    "\ud800", "\udfff",  # lone surrogates
    "\ue000",  # private use
    "\U000e0001",  # language tag (Cf)
    "\u00a0", "\u3000",  # non-ASCII spaces
]


def nasty_urls(char: str) -> list[str]:
    return [f"http://h/{char}2J/", f"http://h/a{char}b", f"http://h{char}x:8080/", f"http://h/{char}"]


@pytest.mark.parametrize("char", NON_PRINTABLE, ids=[f"U+{ord(c):04X}" for c in NON_PRINTABLE])
def test_refuses_every_non_printable_character(char: str) -> None:
    for url in nasty_urls(char):
        with pytest.raises(InvalidBaseUrl):
            normalize_base_url(url)


def test_printable_non_ascii_paths_are_percent_encoded_so_every_key_is_ascii() -> None:
    for spelling in ("http://h/caf\u00e9/", "http://h/caf%C3%A9"):
        assert normalize_base_url(spelling) == "http://h/caf%C3%A9/"
    assert normalize_base_url("http://bücher.example/\u4e2d\U0001f600") == "http://xn--bcher-kva.example/%E4%B8%AD%F0%9F%98%80/"


def test_allow_list_patterns_match_the_idna_form_of_international_hosts() -> None:
    allow = PeerAllowList(parse_allowed_peers("bücher.example, *.internal"))
    assert allow.allows(normalize_base_url("http://bücher.example/"))
    assert allow.allows("http://xn--bcher-kva.example/")
    assert not allow.allows("http://buecher.example/")


# -- one host for every parser ------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "http://2130706433\\.x.shazbot.test:8000/",  # urllib3 connects to 2130706433 (127.0.0.1)
        "http://h\\@evil.example/",
        "http://h:8000\\/",
        "http://h/a\\b/",
        "http://h\\",
    ],
)
def test_refuses_a_backslash_which_parsers_read_differently(bad: str) -> None:
    # urlsplit keeps a backslash in the host; urllib3 and browsers (WHATWG)
    # read it as "/": the allow-list would check one host, requests connect
    # to another.
    with pytest.raises(InvalidBaseUrl, match="backslash"):
        normalize_base_url(bad)
