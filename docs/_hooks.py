"""MkDocs hook: the command line reference, generated from the program's argument parser."""

from __future__ import annotations

import argparse
import os

from regsosek_link.cli import build_parser

MARKER = "<!-- cli-reference -->"


def _help(parser: argparse.ArgumentParser) -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal's width
    return parser.format_help()


def cli_reference() -> str:
    """Markdown: the main help, then each command's help, as ``--help`` prints them."""
    parser = build_parser()
    parts = ["```text\n" + _help(parser) + "```"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                parts.append(f"## {name}\n\n```text\n{_help(sub)}```")
    return "\n\n".join(parts)


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    return markdown.replace(MARKER, cli_reference()) if MARKER in markdown else markdown
