"""Encoded (privacy-preserving) linking against the clear run on the generator's sources.

    PYTHONPATH=benchmarks/.cache/src_<sha>/src python benchmarks/scripts/encoded_check.py 3000 11

``make_sources(n_people, seed)``; each source encoded on its own with one key
(:func:`regsosek_link.privacy.encode_source`), linked with
:func:`regsosek_link.privacy.link_encoded`, and the clear sources linked with the defaults;
pairwise precision, recall and F1 of both. A change to training must keep the encoded F1
(issue 18: the median of m over EM sessions cut it from 0.9940 to 0.9791 at 3,000 people,
seed 11). Prints one JSON line.
"""

import json
import sys
import warnings

warnings.simplefilter("ignore")

from regsosek_link import LinkConfig, Linker, SourceConfig
from regsosek_link.datasets import make_sources
from regsosek_link.privacy import SecretKey, encode_source, link_encoded

n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 11
syn = make_sources(n_people=n, random_state=seed)
single = [k for k, v in syn.source_info.items() if v["one_record_per_person"]]
cfg = LinkConfig(sources=tuple(SourceConfig(name=k, columns=m, one_record_per_person=k in single)
                               for k, m in syn.mappings.items()))
key = SecretKey(bytes.fromhex("5f1c0e9a3b7d24c68e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"), origin="benchmark")
enc = {name: encode_source(name, key, data=syn.sources[name], config=cfg) for name in syn.sources}
e = link_encoded(enc, one_record_per_person=single).evaluate(syn.truth)
c = Linker(cfg).run(syn.sources).evaluate(syn.truth)
print(json.dumps({"people": n, "seed": seed,
                  "encoded": {"precision": round(e.precision, 4), "recall": round(e.recall, 4), "f1": round(e.f1, 4)},
                  "clear": {"precision": round(c.precision, 4), "recall": round(c.recall, 4), "f1": round(c.f1, 4)}}))
