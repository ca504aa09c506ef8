"""Subcommands whose issues have not landed yet: a clear error, never fake output."""

from __future__ import annotations

import typer

from tokenizers_lab.cli.common import lab_command
from tokenizers_lab.errors import NotImplementedYet


def _not_yet(name: str, what: str) -> None:
    raise NotImplementedYet(f"`tokenlab {name}` ({what}) is not implemented yet")


@lab_command
def transplant(args: list[str] | None = typer.Argument(None)) -> None:
    """Move a pretrained model onto a new tokenizer (not implemented yet)."""
    _not_yet("transplant", "embedding transplant onto a new tokenizer")
