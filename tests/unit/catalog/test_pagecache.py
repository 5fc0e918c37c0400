"""The page cache: served again without encoding, bounded by bytes (least recently used out)."""

from __future__ import annotations

from portal.catalog.pagecache import PageCache
from portal.store import EncodedPage


def page(text: str) -> EncodedPage:
    return EncodedPage(columns=(), rows=[text], csv=None, total=1, next_cursor=None)


def test_hits_do_not_encode_again_and_the_oldest_goes_first():
    cache, calls = PageCache(max_bytes=8 * 1000), []

    def encode(key):
        calls.append(key)
        return page("x" * 600)

    for key in ("a", "b", "a", "c", "d", "a", "b"):
        cache.get(key, lambda key=key: encode(key))
    # 856 bytes an entry, 8,000 bytes in all: everything fits, so each key is encoded once
    assert calls == ["a", "b", "c", "d"]
    small = PageCache(max_bytes=8 * 900)  # a page above an eighth of the cache is never kept
    small.get("big", lambda: page("x" * 5000))
    assert small.get("big", lambda: page("other")).rows == ["other"], "an oversized page is not kept"


def test_eviction_by_bytes():
    cache = PageCache(max_bytes=2600)
    for key in ("a", "b", "c", "d"):
        cache.get(key, lambda: page("x" * 50))  # 306 bytes each
    assert cache.get("a", lambda: page("new")).rows[0] != "new"
    for key in "efghijkl":
        cache.get(key, lambda: page("x" * 50))
    assert cache.get("b", lambda: page("new")).rows == ["new"], "b was least recently used"


def test_zero_turns_it_off():
    cache = PageCache(max_bytes=0)
    cache.get("a", lambda: page("one"))
    assert cache.get("a", lambda: page("two")).rows == ["two"]
