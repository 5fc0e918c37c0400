"""One app's search engine: the index, the query builder and the derived in-memory lexicon.

It is attached to the app's sessions (`session.info`), so service functions reach it from the
session they are given and never from Flask's globals.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from whoosh.searching import Searcher

from portal.search.analysis import text_analyzer
from portal.search.index import SearchIndex
from portal.search.lexicon import Lexicon, build_lexicon, index_key
from portal.search.query import QueryBuilder
from portal.search.schema import build_schema
from portal.search.synonyms import load_synonyms

INFO_KEY = "kaifang.search"


class SearchEngine:
    def __init__(self, folder: Path, sessions: sessionmaker[Session], *, synonyms: Path | None,
                 lock_timeout: float, background: bool = True):
        self.index = SearchIndex(folder, sessions, lock_timeout=lock_timeout)
        self._synonyms = synonyms
        self._builder: QueryBuilder | None = None
        self._builder_lock = threading.Lock()
        self.background = background
        self._lexicon: Lexicon | None = None
        self._lexicon_lock = threading.Lock()

    @property
    def builder(self) -> QueryBuilder:
        """Made at the first search, not with the app: loading the synonyms segments them with
        jieba, whose dictionary is the slowest thing to load, and most commands never search."""
        if self._builder is None:
            with self._builder_lock:
                if self._builder is None:
                    self._builder = QueryBuilder(build_schema(), load_synonyms(self._synonyms, text_analyzer()))
        return self._builder

    def searcher(self) -> Searcher | None:
        """A current searcher, or None while the index is being rebuilt (callers fall back)."""
        if self.index.status == "closed":
            self.index.open(background=self.background)
        return self.index.searcher()

    def lexicon(self, searcher: Searcher) -> Lexicon:
        """The lexicon of the searcher's index state, rebuilt once per change of the index."""
        key = index_key(searcher.reader())
        current = self._lexicon
        if current is not None and current.key == key:
            return current
        with self._lexicon_lock:
            if self._lexicon is None or self._lexicon.key != key:
                self._lexicon = build_lexicon(searcher.reader(), self.builder.synonyms.words)
            return self._lexicon

    def drain(self) -> int:
        if self.index.status == "closed":
            self.index.open(background=self.background)
        return self.index.drain()


def engine_of(session: Session) -> SearchEngine | None:
    return session.info.get(INFO_KEY)
