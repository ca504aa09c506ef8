"""The `tokenlab` command line: the only package that imports typer or rich."""

from __future__ import annotations

import typer

from tokenizers_lab import __version__
from tokenizers_lab.cli import audit, demo, invert, train, transplant

app = typer.Typer(
    name="tokenlab",
    help="A tokenizer workbench: train, audit, invert and transplant LLM tokenizers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tokenlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool | None = typer.Option(None, "--version", callback=_version, is_eager=True,
                                                 help="Print the version and exit.")) -> None:
    """A tokenizer workbench: train, audit, invert and transplant LLM tokenizers."""


app.command("demo")(demo.demo)
app.command("train")(train.train)
app.command("audit")(audit.audit)
app.command("invert")(invert.invert)
app.command("transplant")(transplant.transplant)


def main() -> None:
    """Console-script entry point."""
    app()
