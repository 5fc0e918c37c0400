"""A notebook session as one `.py` file that `kaifang offline-run` accepts.

Cells run in one namespace in a session (variables persist between runs), so the cells that
finished, in the order they ran, concatenated, are the same program; `offline-run` runs it over
the downloaded samples with the same sandbox and rules. A cell that ended in an error, a
refusal or a timeout (or has not finished) is kept as comments: the export must run as it stands,
and the analyst still sees what they tried. Each cell starts with a `# %%` marker, which editors
that know the "percent" cell format split back into cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ExportedDataset:
    slug: str
    open_class: str
    version: int | None


@dataclass(frozen=True)
class ExportedCell:
    code: str
    status: str  # the run's result status ("ok", "error", ...), or the run's own while unfinished


def filename(session_id: object) -> str:
    return f"kaifang-notebook-{session_id}.py"


def notebook_source(*, session_id: object, datasets: list[ExportedDataset], cells: list[ExportedCell],
                    exported_at: datetime) -> str:
    lines = [f"# Kaifang notebook session {session_id}, exported {exported_at:%Y-%m-%d %H:%M} UTC.",
             "# Run it on your own machine over the sample data, with the portal's sandbox and rules:",
             f"#   kaifang offline-run {filename(session_id)} " + " ".join(_data_argument(d) for d in datasets)]
    if any(d.open_class != "conditional" for d in datasets):
        lines.append("# (an open dataset is passed as its CSV download, renamed SLUG.csv)")
    lines.append("")
    for number, cell in enumerate(cells, start=1):
        code = cell.code.rstrip("\n")
        if cell.status == "ok":
            lines += [f"# %% [{number}]", code, ""]
        else:
            lines.append(f"# %% [{number}] not run in the export: this cell ended with status {cell.status!r}")
            lines += [f"# {line}" if line else "#" for line in code.splitlines()]
            lines.append("")
    return "\n".join(lines)


def _data_argument(dataset: ExportedDataset) -> str:
    if dataset.open_class == "conditional":
        version = f"-v{dataset.version}" if dataset.version is not None else ""
        return f"--data {dataset.slug}{version}-sample.zip"
    return f"--data {dataset.slug}.csv"
