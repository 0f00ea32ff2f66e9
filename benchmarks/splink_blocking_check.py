"""Check the peers' blocking rules the way Splink's docs ask: cumulative comparisons per rule
(``splink.blocking_analysis.count_comparisons_from_blocking_rules``), the largest blocks of each
rule (``n_largest_blocks``) and, because the synthetic data has a truth, the blocking recall
reached after each rule.

    python benchmarks/splink_blocking_check.py --people 100000 [--rules current|<file>]

Writes a markdown table to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data
import _tools


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--exact", action="store_true", help="exact counts (record_sample_proportion=1)")
    args = ap.parse_args(argv)

    import duckdb
    from splink import DuckDBAPI
    from splink.blocking_analysis import count_comparisons_from_blocking_rules, n_largest_blocks

    _data.prepare("synthetic", args.people)
    ds = _data.load("synthetic", args.people)
    con = duckdb.connect()
    order, table = _tools.peer_table(ds, con)
    truth = ds.truth[["source", "record_id", "person_id"]].astype(str)
    ids = order.merge(truth, on=["source", "record_id"], how="left")["person_id"]
    con.register("ids_df", ids.to_frame("person_id").assign(unique_id=range(len(ids))))
    con.execute("CREATE TABLE t AS SELECT r.*, i.person_id FROM records r JOIN ids_df i USING (unique_id)").fetchall()
    n_true = con.execute("SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM t GROUP BY person_id)").fetchall()[0][0]
    db_api = DuckDBAPI(connection=con)
    sdf = db_api.register(table)
    rules = _tools.synthetic_rules(ds)
    t0 = time.perf_counter()
    counts = count_comparisons_from_blocking_rules(
        sdf, blocking_rules=rules, link_type="dedupe_only",
        record_sample_proportion=1.0 if args.exact else 0.05)
    print(f"synthetic {args.people:,} people, {len(order):,} records, {int(n_true):,} true pairs; "
          f"counted in {time.perf_counter() - t0:.1f} s ({'exact' if args.exact else '5% sample estimate'})\n")
    print("| rule | marginal comparisons | cumulative | cumulative blocking recall | largest block (pre-filter) |")
    print("|---|---|---|---|---|")
    found = "FALSE"
    for rule, rec in zip(rules, counts):
        found = f"({found}) OR ({rule})"
        hit = con.execute(f"SELECT count(*) FROM t l JOIN t r ON l.person_id = r.person_id AND l.unique_id < r.unique_id "
                          f"WHERE {found}").fetchall()[0][0]
        big = n_largest_blocks(sdf, blocking_rule=rule.split(") AND NOT")[0].lstrip("("), link_type="dedupe_only",
                               n_largest=1).as_pandas_dataframe()
        top = big.iloc[0].to_dict() if len(big) else {}
        keys = " / ".join(str(v) for k, v in top.items() if k.startswith("key_"))
        rec = rec if isinstance(rec, dict) else vars(rec)
        marg = rec.get("marginal_comparison_count", rec.get("row_count"))
        cum = rec.get("cumulative_comparison_count", rec.get("cumulative_rows"))
        short = rule.split(") AND NOT")[0].lstrip("(")
        print(f"| `{short}` | {int(marg):,} | {int(cum):,} | {hit / n_true:.4f} | {keys}: {int(top.get('block_count', 0)):,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
