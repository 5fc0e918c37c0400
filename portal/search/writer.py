"""The index writer: Whoosh's segment writer, finishing a segment without a file check per posting.

When a segment is finished, Whoosh's `add_postings` asks the field length of the document of
every posting (to record each block's shortest and longest document). Its per-document reader
answers each call with a file-existence check for fields that keep no lengths (`os.stat`, once
per posting of an ID or keyword field) and a seek into the lengths column for the others: at
20,000 records, 4.8 million calls and about a third of the build. Here the lengths columns are
read once into lists when the segment is finished. The postings written are the same.

A bigger posting pool (1 GB at most, rather than Whoosh's 128) keeps a rebuild's postings in memory instead of
spilling sorted runs to temporary files and merging them back (pickling each posting twice).
Relies on whoosh-reloaded 2.7's writer internals (pinned `<3`). Only `index` uses it.
"""

from __future__ import annotations

from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3PerDocReader
from whoosh.fields import Schema
from whoosh.util.numeric import byte_to_length
from whoosh.writing import PostingPool, SegmentWriter

DEFAULT_MEMORY_MB = 1024


class IndexWriter(SegmentWriter):
    """`SegmentWriter` with the field lengths of a new segment read once, not once per posting,
    and a posting pool without Whoosh's per-posting type assertions."""

    def __init__(self, ix, **kwargs):
        super().__init__(ix, **kwargs)
        self.pool = _LeanPostingPool(self._tempstorage, self.newsegment, limitmb=kwargs.get("limitmb", 128))

    def _flush_segment(self):
        self.perdocwriter.close()
        lengths = self.per_document_reader() if self.codec.length_stats else None
        preloaded = _PreloadedLengths(lengths, self.schema) if isinstance(lengths, W3PerDocReader) else lengths
        self.fieldwriter.add_postings(self.schema, preloaded, self.pool.iter_postings())
        self.fieldwriter.close()
        if lengths:
            lengths.close()


class _LeanPostingPool(PostingPool):
    """Whoosh's pool, adding a posting with one size estimate and no assertions (the postings come
    from Whoosh's own field types, bytes already)."""

    def add(self, item):
        self.currentsize += 150 + len(item[0]) + 2 * len(item[1]) + len(item[4] or b"")
        if self.currentsize > self.limit:
            self.save()
        self.current.append(item)
        self.fieldnames.add(item[0])


class _PreloadedLengths:
    """The one method `FieldWriter.add_postings` calls, answered from lists."""

    def __init__(self, reader: W3PerDocReader, schema: Schema):
        self._lengths: dict[str, list[int]] = {}
        for name in schema.scorable_names():
            column = reader._cached_reader(f"_{name}_len", LENGTHS_COLUMN)  # noqa: SLF001 - Whoosh's own column
            if column is not None:
                self._lengths[name] = [byte_to_length(b) if b else 0 for b in column]

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int:
        found = self._lengths.get(fieldname)
        return found[docnum] or default if found is not None else default


def open_writer(ix, *, timeout: float, memory_mb: int = DEFAULT_MEMORY_MB) -> IndexWriter:
    """The index's writer, waiting up to `timeout` seconds for the lock. Raises: LockError."""
    return IndexWriter(ix, timeout=timeout, limitmb=memory_mb)
