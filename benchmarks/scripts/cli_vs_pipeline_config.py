"""Write cfg.yaml for the generated sources as cli._cmd_demo does."""
import sys
from pathlib import Path

from regsosek_link.config import LinkConfig, SourceConfig
from regsosek_link.datasets import make_sources

out = Path(sys.argv[1])
syn = make_sources(n_people=200, random_state=0)
sources = []
for name in syn.sources:
    info = syn.source_info.get(name, {})
    sources.append(SourceConfig(name=name, path=str(Path("src") / f"{name}.parquet"), columns=syn.mappings[name],
                                one_record_per_person=bool(info.get("one_record_per_person", False)),
                                priority=1 if info.get("one_record_per_person") else 100))
LinkConfig(sources=tuple(sources), output_dir="registry", random_state=0).save(out / "cfg.yaml")
