"""The embedded engine on the spark_scale data in the generator's row order and in the
canonical order (sources by name, record IDs sorted: the order of the Spark engine's ranks);
the records whose person differs. Usage: PYTHONPATH=<src of a version> python
benchmarks/row_order_check.py <that version's benchmarks/> N_PEOPLE"""
import sys

sys.path.insert(0, sys.argv[1])  # that version's benchmarks/
import _data
from _tools import regsosek_config

import regsosek_link
from regsosek_link import Linker

n_people = int(sys.argv[2])
_data.prepare("synthetic", n_people)
ds = _data.load("synthetic", n_people)
cfg = regsosek_config(ds)
print(regsosek_link.__file__, ds.n_records, "records")
a = Linker(cfg).run(ds.sources).membership
canon = {}
for k, v in sorted(ds.sources.items()):
    rid = next(c for c, t in ds.mappings[k].items() if t == "record_id")
    canon[k] = v.sort_values(rid, kind="mergesort").reset_index(drop=True)
b = Linker(cfg).run(canon).membership
k = ["source", "record_id"]
m = a[k + ["person_id"]].astype(str).merge(b[k + ["person_id"]].astype(str), on=k, suffixes=("_given", "_canon"))
d = m[m.person_id_given != m.person_id_canon]
print("records in another person:", len(d), "persons given side:", d.person_id_given.nunique(),
      "canon side:", d.person_id_canon.nunique())
print(d.head(20).to_string(index=False))
