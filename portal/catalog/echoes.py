"""A warning for the publisher: public free text of a conditional dataset that names a record.

The catalog shows a conditional version's note and source file's name, the dataset's title and
descriptions and its fields' descriptions to everyone; they are the publisher's words and pass
no disclosure control (twenty-third round, decision 0029c). After a load, the values of the
identifier and sensitive fields found verbatim in that text are listed for the publisher to
check (`kaifang load` prints them); nothing is refused or changed, since a number in a note may
be a coincidence, but a record's identifier in a note is a disclosure the system cannot undo.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal import store
from portal.catalog.models import Dataset

PUBLIC = ("open",)


def echoed_values(session: Session, slug: str, data_dir: Path) -> list[str]:
    """One line per field whose values appear in the dataset's public text (empty for open data)."""
    dataset = session.scalars(select(Dataset).where(Dataset.slug == slug)
                              .options(selectinload(Dataset.fields), selectinload(Dataset.current_version))).first()
    if dataset is None or dataset.open_class in PUBLIC or dataset.current_version is None:
        return []
    version = dataset.current_version
    watched = [f.name for f in sorted(dataset.fields, key=lambda f: f.position) if f.identifier or f.sensitive]
    texts = [version.note or "", version.source_name or "", dataset.title_zh, dataset.title_en,
             dataset.description_zh, dataset.description_en,
             *(t for f in dataset.fields for t in (f.description_zh, f.description_en))]
    found = store.values_in_text(data_dir / version.storage_path, watched, "\n".join(t for t in texts if t))
    return [f"warning: the public note, file name or descriptions contain values of field {name!r} "
            f"({', '.join(values)}): these texts are shown to everyone, check them" for name, values in found.items()]
