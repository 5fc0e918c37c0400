"""CPU time of one grouped count of the clinic visits with each kind of record key (decision 0023e).

    .venv/bin/python bench/record_keys.py

`row number`: the key before the fifth red-team round, a hash of a salt and the file row number
(it changed with every version); `values`: the key now, a hash of a salt and all the record's
stored values (the same in every version). Prints process CPU time (all DuckDB threads), the
median of 15 runs, three rounds, beside the load average.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

CSV = Path(__file__).resolve().parent.parent / "datasets" / "clinic-visits-synthetic" / "visits.csv.gz"
COLUMNS = ("visit_id", "patient_id", "visit_date", "district", "age_band", "sex", "diagnosis_group",
           "department", "visit_type", "cost", "insurance_type")
KEYS = {
    "row number": "hash(xor(CAST(? AS UBIGINT), CAST(file_row_number AS UBIGINT)))",
    "values": "hash(xor(CAST(? AS UBIGINT), hash({})))".format(", ".join(f'"{c}"' for c in COLUMNS)),
}


def main() -> None:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    with tempfile.TemporaryDirectory() as folder:
        parquet = Path(folder) / "clinic.parquet"
        con.execute(f"COPY (SELECT * FROM read_csv('{CSV}')) TO '{parquet}' (FORMAT parquet)")

        def cpu_ms(key: str, runs: int = 15) -> float:
            sql = (f"SELECT district, count(*), bit_xor(k) FROM (SELECT district, {key} AS k FROM "
                   f"read_parquet('{parquet}', file_row_number = true)) GROUP BY district")
            spent = []
            for _ in range(runs):
                started = time.process_time()
                con.execute(sql, [12345]).fetchall()
                spent.append((time.process_time() - started) * 1000)
            return statistics.median(spent)

        for _ in range(3):
            figures = ", ".join(f"{name} {cpu_ms(key):.1f} ms" for name, key in KEYS.items())
            print(f"grouped count of 120,000 visits, CPU: {figures}; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
