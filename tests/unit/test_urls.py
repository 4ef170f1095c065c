import pytest

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
