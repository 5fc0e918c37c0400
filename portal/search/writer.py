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

from portal.search.formats import IndexPositions

DEFAULT_MEMORY_MB = 1024


class IndexWriter(SegmentWriter):
    """`SegmentWriter` with the field lengths of a new segment read once, not once per posting,
    a posting pool without Whoosh's per-posting type assertions, and documents added in one loop
    over the schema's fields read once. The catalog's schema has no spelling or vector fields and
    its documents name no `_boost` or `_stored_` keys; a schema or document that does goes through
    Whoosh's own `add_document`."""

    def __init__(self, ix, **kwargs):
        super().__init__(ix, **kwargs)
        self.pool = _LeanPostingPool(self._tempstorage, self.newsegment, limitmb=kwargs.get("limitmb", 128))
        self._plan = {name: _FieldPlan(field) for name, field in self.schema.items()}
        self._lean = not any(plan.spelling or plan.vector for plan in self._plan.values())

    def add_document(self, **fields):
        if not self._lean or any(name.startswith("_") or name not in self._plan for name in fields):
            return super().add_document(**fields)
        self._check_state()
        perdocwriter, docnum, add_post = self.perdocwriter, self.docnum, self.pool.add
        perdocwriter.start_doc(docnum)
        try:
            for fieldname in sorted(fields):
                value = fields[fieldname]
                if value is None:
                    continue
                plan = self._plan[fieldname]
                field = plan.field
                length = 0
                if plan.indexed:
                    items = plan.fast(value, plan.analyzer) if plan.fast is not None else field.index(value)
                    for tbytes, freq, weight, vbytes in items:
                        length += freq
                        add_post((fieldname, tbytes, docnum, weight, vbytes))
                    if not plan.scorable:
                        length = 0
                perdocwriter.add_field(fieldname, field, value if plan.stored else None, length)
                if plan.column:
                    perdocwriter.add_column_value(fieldname, plan.column, field.to_column_value(value))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def _flush_segment(self):
        self.perdocwriter.close()
        lengths = self.per_document_reader() if self.codec.length_stats else None
        preloaded = _PreloadedLengths(lengths, self.schema) if isinstance(lengths, W3PerDocReader) else lengths
        self.fieldwriter.add_postings(self.schema, preloaded, self.pool.iter_postings())
        self.fieldwriter.close()
        if lengths:
            lengths.close()


class _FieldPlan:
    """What `add_document` asks of a field, asked once per writer."""

    def __init__(self, field):
        self.field = field
        self.indexed, self.scorable, self.stored = field.indexed, field.scorable, field.stored
        self.analyzer = getattr(field, "analyzer", None)
        self.spelling = field.separate_spelling()
        self.vector = field.vector
        self.column = field.column_type
        fmt = getattr(field, "format", None)
        self.fast = fmt.postings if isinstance(fmt, IndexPositions) else None


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
