"""The ``encode`` and ``link-encoded`` commands of ``regsosek-link`` (see :mod:`regsosek_link.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_commands"]


def _key_ref(args: argparse.Namespace) -> str:
    from ..errors import ConfigError

    if bool(args.key_file) == bool(args.key_env):
        raise ConfigError("give the secret key by exactly one of --key-file PATH or --key-env NAME")
    return f"file:{args.key_file}" if args.key_file else f"env:{args.key_env}"


def _cmd_encode(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..errors import ConfigError
    from ._link import encode_source, write_encoded

    config = load_config(args.config)
    names = [s.name for s in config.sources]
    if args.source is None and len(names) > 1:
        raise ConfigError(f"the config names several sources ({', '.join(names)}); choose one with --source")
    name = args.source or names[0]
    if name not in names:
        raise ConfigError(f"--source {name!r} is not a source of {args.config!r}; its sources: {', '.join(names)}")
    encoded = encode_source(name, _key_ref(args), config=config)
    path = write_encoded(encoded, args.out, owner_only=not args.shared_file)
    if not args.quiet:
        print(f"Encoded {len(encoded):,} records of source {name!r} into {path} "
              f"(key check value {encoded['encoding'].iloc[0].split(':')[-1] if len(encoded) else '-'}); "
              "it holds no clear personal data.", file=sys.stderr)
    return 0


def _cmd_link_encoded(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ._link import link_encoded

    options = {"output_dir": args.out, "owner_only_outputs": args.owner_only}
    if args.threshold is not None:
        options["threshold"] = args.threshold
    if args.person_id_salt:
        options["person_id_salt"] = args.person_id_salt
    if args.update and not args.store:
        raise ConfigError("--update adds the files to a stored registry: give it with --store PATH")
    if args.update and not Path(args.store).exists():
        raise ConfigError(f"registry store {args.store!r} does not exist; create it first with "
                          f"'regsosek-link link-encoded FILES --out DIR --store {args.store}'")
    result = link_encoded(args.files, one_record_per_person=tuple(args.one_record_per_person or ()),
                          store=args.store, update=args.update, **options)
    written = result.write()
    if not args.quiet:
        what = "Added the batch to" if args.update else "Linked"
        print(f"{what} {len(result.membership):,} encoded records: {len(result.registry):,} persons"
              + (f" (run {result.run_id} in {args.store})" if args.store else "")
              + f"; outputs in {Path(args.out)}: {', '.join(written)}", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``encode`` and ``link-encoded`` to the CLI's sub-commands."""
    e = sub.add_parser("encode", help="encode one source of a config for privacy-preserving linkage (run it where "
                       "the data lives)")
    e.add_argument("config", help="config file naming the source (its file and column mapping)")
    e.add_argument("--source", help="the source to encode (default: the config's only source)")
    e.add_argument("--key-file", help="file holding the shared secret key (hex or raw bytes; mode 600)")
    e.add_argument("--key-env", help="environment variable holding the shared secret key")
    e.add_argument("--out", required=True, help="encoded Parquet file to write")
    e.add_argument("--shared-file", action="store_true",
                   help="create the encoded file with the default permissions instead of owner-only (0600)")
    e.add_argument("--quiet", action="store_true", help="no summary line")
    e.set_defaults(fn=_cmd_encode)

    k = sub.add_parser("link-encoded", help="link encoded sources (files written by 'encode')")
    k.add_argument("files", nargs="+", help="encoded Parquet files")
    k.add_argument("--out", required=True, help="output folder")
    k.add_argument("--one-record-per-person", action="append", metavar="SOURCE",
                   help="a source that holds at most one record per person (repeatable)")
    k.add_argument("--threshold", type=float, help="match probability to accept a link (default 0.9)")
    k.add_argument("--person-id-salt", help="'file:PATH' or 'env:NAME' of the registry's secret person-ID salt")
    k.add_argument("--owner-only", action="store_true", help="outputs readable by their owner only (0700/0600)")
    k.add_argument("--store", help="DuckDB registry file: keep person IDs stable against it and save the run there "
                   "(it then holds encoded records only)")
    k.add_argument("--update", action="store_true",
                   help="link the files as a new batch against the registry in --store (the stored model scores "
                   "the new pairs)")
    k.add_argument("--quiet", action="store_true", help="no summary line")
    k.set_defaults(fn=_cmd_link_encoded)
