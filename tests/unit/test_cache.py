"""The byte-bounded cache behind URL normalisation."""

from __future__ import annotations

import pytest

from flask_clustershazbot.cache import BoundedStrCache
from flask_clustershazbot.urls import URL_CACHE_BYTES, InvalidBaseUrl, normalize_base_url, url_cache_info


def test_holds_no_more_bytes_than_its_bound_and_keeps_the_newest() -> None:
    calls: list[str] = []

    def upper(text: str) -> str:
        calls.append(text)
        return text.upper()

    cache = BoundedStrCache(upper, max_bytes=64 * 1024)
    for index in range(500):
        assert cache(f"{index:04d}" + "x" * 1000) == f"{index:04d}" + "X" * 1000
        assert cache.cache_info().bytes <= 64 * 1024
    info = cache.cache_info()
    assert 10 < info.currsize < 40 and info.misses == 500
    calls.clear()
    cache("0499" + "x" * 1000)  # the newest is still there
    cache("0000" + "x" * 1000)  # the oldest is gone
    assert calls == ["0000" + "x" * 1000]


def test_an_entry_larger_than_the_bound_is_computed_not_kept() -> None:
    cache = BoundedStrCache(str.upper, max_bytes=1000)
    assert cache("y" * 5000) == "Y" * 5000
    assert cache.cache_info().currsize == 0


def test_errors_are_not_cached() -> None:
    before = url_cache_info()
    for _ in range(3):
        with pytest.raises(InvalidBaseUrl):
            normalize_base_url("ftp://not-a-base-url.example/")
    after = url_cache_info()
    assert after.currsize == before.currsize and after.max_bytes == URL_CACHE_BYTES
