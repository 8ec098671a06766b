"""The generator's --daily: a history plus N daily part files; its default output stays one file per table."""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipeline.synth.generate import generate


def test_daily_writes_a_history_and_one_hive_part_per_day_with_the_same_new_rows(tmp_path):
    plain, daily = tmp_path / "plain", tmp_path / "daily"
    counts = generate(plain, scale=0.005, seed=3)
    split = generate(daily, scale=0.005, seed=3, daily=3)

    assert sorted(p.name for p in plain.iterdir()) == sorted(f"{n}.parquet" for n in counts)  # default unchanged
    for name in ("payments", "claims"):
        days = sorted(p.name for p in (daily / name).iterdir() if p.is_dir())
        assert len(days) == 3 and all(d.startswith("date=") for d in days), days
        assert not (daily / f"{name}.parquet").exists()
        rows = ds.dataset(daily / name, format="parquet", partitioning="hive").to_table()
        assert split[name] == counts[name] == rows.num_rows  # every row once: history + days
        assert sorted(rows[f"{'transaction' if name == 'payments' else 'claim'}_date"].to_pylist(), key=str) == sorted(
            pq.read_table(plain / f"{name}.parquet")[
                f"{'transaction' if name == 'payments' else 'claim'}_date"
            ].to_pylist(),
            key=str,
        )
    for name in ("customers", "policies"):
        changed = ds.dataset(daily / name, format="parquet", partitioning="hive").to_table()
        later = changed.filter(pc.is_valid(changed["date"]))
        assert later.num_rows > 0 and split[name] == counts[name] + later.num_rows
        assert set(later["updated_by"].to_pylist()) == {"DAILY_FEED"}
