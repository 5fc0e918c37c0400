"""CPU time of one grouped count of the clinic visits with each kind of record key (decisions
0023e and 0024a).

    .venv/bin/python bench/record_keys.py

`row number`: the key before the fifth red-team round, a hash of a salt and the file row number
(it changed with every version); `values inline`: a hash of a salt and all the record's stored
values, hashed on every query (0023e); `values, one row struct`: the same values hashed as one
`row(...)`; `identifier only`: a hash of `visit_id` alone (what a declared primary key would
give); `values, keyed copy`: the key of 0023e read from the version's keyed copy
(`portal/store/record_keys.py`, 0024a: the value hash stored once per version, the salt mixed in
per query) — checked here to give the very same cell keys as `values inline`. Prints process
CPU time (all DuckDB threads), the median of 15 runs, three rounds, beside the load average.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from portal.store import Column, StoredTable, keyed
from portal.store.record_keys import KEY_COLUMN

CSV = Path(__file__).resolve().parent.parent / "datasets" / "clinic-visits-synthetic" / "visits.csv.gz"
COLUMNS = ("visit_id", "patient_id", "visit_date", "district", "age_band", "sex", "diagnosis_group",
           "department", "visit_type", "cost", "insurance_type")
VALUES = ", ".join(f'"{c}"' for c in COLUMNS)
KEYS = {  # name -> (key expression, which file)
    "row number": ("hash(xor(CAST(? AS UBIGINT), CAST(file_row_number AS UBIGINT)))", "version"),
    "values inline": (f"hash(xor(CAST(? AS UBIGINT), hash({VALUES})))", "version"),
    "values, one row struct": (f"hash(xor(CAST(? AS UBIGINT), hash(row({VALUES}))))", "version"),
    "identifier only": ('hash(xor(CAST(? AS UBIGINT), hash("visit_id")))', "version"),
    "values, keyed copy": (f'hash(xor(CAST(? AS UBIGINT), "{KEY_COLUMN}"))', "keyed"),
}


def main() -> None:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    with tempfile.TemporaryDirectory() as folder:
        parquet = Path(folder) / "clinic.parquet"
        con.execute(f"COPY (SELECT * FROM read_csv('{CSV}')) TO '{parquet}' (FORMAT parquet)")
        started = time.process_time()
        files = {"version": parquet, "keyed": keyed(StoredTable(parquet, tuple(Column(c, "text") for c in COLUMNS)))}
        print(f"keyed copy written once: {(time.process_time() - started) * 1000:.0f} ms CPU, "
              f"{files['keyed'].stat().st_size / 1e6:.1f} MB beside {parquet.stat().st_size / 1e6:.1f} MB")

        def statement(name: str) -> str:
            key, file = KEYS[name]
            return (f"SELECT district, count(*), bit_xor(k) FROM (SELECT district, {key} AS k FROM "
                    f"read_parquet('{files[file]}', file_row_number = true)) GROUP BY district ORDER BY district")

        assert (con.execute(statement("values inline"), [12345]).fetchall()
                == con.execute(statement("values, keyed copy"), [12345]).fetchall())

        def cpu_ms(name: str, runs: int = 15) -> float:
            sql = statement(name)
            spent = []
            for _ in range(runs):
                started = time.process_time()
                con.execute(sql, [12345]).fetchall()
                spent.append((time.process_time() - started) * 1000)
            return statistics.median(spent)

        for _ in range(3):
            figures = ", ".join(f"{name} {cpu_ms(name):.1f} ms" for name in KEYS)
            print(f"grouped count of 120,000 visits, CPU: {figures}; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
