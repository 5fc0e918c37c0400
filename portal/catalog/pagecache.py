"""A bounded in-memory cache of encoded row pages.

A page is a pure function of an immutable version file, the query and the format, so a page
once encoded can be served again without DuckDB for as long as it stays in memory. The cache
is least-recently-used and bounded by the bytes it holds (`API_PAGE_CACHE_MB`, 0 turns it off);
a new version is a new file, so an entry can be stale only by being unreachable, never wrong.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from portal import store


class PageCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[store.EncodedPage, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, encode: Callable[[], store.EncodedPage]) -> store.EncodedPage:
        if self.max_bytes <= 0:
            return encode()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit[0]
        page = encode()
        size = _size(page)
        if size <= self.max_bytes // 8:  # one huge page must not flush everything else
            self._store(key, page, size)
        return page

    def _store(self, key: Hashable, page: store.EncodedPage, size: int) -> None:
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = (page, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped


def _size(page: store.EncodedPage) -> int:
    return sum(len(row) for row in page.rows) + len(page.csv or b"") + 256


PAGES = PageCache(64 << 20)


def configure(max_megabytes: int) -> None:
    PAGES.max_bytes = max_megabytes << 20
