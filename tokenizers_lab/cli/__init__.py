"""The `tokenlab` command line: the only package that imports typer or rich."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from typing import Any

import typer
import typer.core

from tokenizers_lab import __version__, errors
from tokenizers_lab.cli import audit, common, demo, diff, invert, quick, train, transplant
from tokenizers_lab.errors import Terminated
from tokenizers_lab.native import keep_freed_memory


class _OneLineErrors(typer.core.TyperGroup):
    """Typer's own parse errors (a value that is not an integer, a missing argument, an unknown
    option) as one `error:` line on stderr with exit code 2, like every other error, instead of
    a usage box."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def parse() -> Any:
            return super(_OneLineErrors, self).main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )

        if not standalone_mode:
            return parse()
        try:
            rv = parse()
        except SystemExit as e:
            # a reader that stopped early (`tokenlab --help | head -c 10`) is no error: rich (help
            # text) and typer turn the broken pipe into exit 1 once stdout points at /dev/null
            if e.code == 1 and _from_broken_pipe(e):
                sys.exit(0)
            raise
        except Exception as e:  # typer's vendored click exceptions: exit_code + format_message
            if not (hasattr(e, "exit_code") and hasattr(e, "format_message")):
                if type(e).__name__ == "Abort":
                    sys.stderr.write("error: aborted\n")
                    sys.exit(1)
                raise
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `tokenlab`: the help text itself
                if e.format_message().strip():
                    sys.stderr.write(e.format_message() + "\n")
                sys.exit(e.exit_code)
            ctx = getattr(e, "ctx", None)
            command = ctx.command_path if ctx is not None else "tokenlab"
            sys.stderr.write(f"error: {e.format_message()} (see {command} --help)\n")
            sys.exit(e.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)


def _from_broken_pipe(e: SystemExit) -> bool:
    """Whether this exit is rich's or typer's answer to a closed stdout (and no other exit 1)."""
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":  # typer's EPIPE handler
        return True
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == "on_broken_pipe"  # rich's Console


class _Command(typer.core.TyperCommand):
    """A subcommand whose -h/--help row shows no `<bool>` type, like every other flag."""

    def get_help_option(self, ctx: Any) -> Any:
        opt = super().get_help_option(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt


app = typer.Typer(
    cls=_OneLineErrors,
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
def _root(
    version: bool | None = typer.Option(
        None, "--version", callback=_version, is_eager=True, metavar="", help="Print the version and exit."
    ),
) -> None:
    """A tokenizer workbench: train, audit, invert and transplant LLM tokenizers."""


app.command("demo", cls=_Command)(demo.demo)
app.command("train", cls=_Command)(train.train)
app.command("audit", cls=_Command)(audit.audit)
app.command("invert", cls=_Command)(invert.invert)
app.command("transplant", cls=_Command)(transplant.transplant)
app.command("diff", cls=_Command)(diff.diff)
app.command("encode", cls=_Command)(quick.encode)
app.command("inspect", cls=_Command)(quick.inspect)
app.command("compare", cls=_Command)(quick.compare)


def main() -> None:
    """Console-script entry point. SIGTERM is handled like Ctrl-C (clean-up, one error line), with
    exit 143."""
    signal.signal(signal.SIGTERM, errors.on_signal)
    sys.unraisablehook = errors.quiet_unraisable
    keep_freed_memory()
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when started with SIGINT ignored
        signal.signal(signal.SIGINT, errors.on_signal)
    try:
        app()
    except KeyboardInterrupt as e:
        # an interrupt that reaches this far (one arriving while the CLI was already exiting, or
        # during a library's import) is still exit 130 (143), never a death by signal (-2)
        code = 143 if isinstance(e, Terminated) else 130
        _ignore_interrupts()
        if not common.INTERRUPT_REPORTED:
            sys.stderr.write(
                f"error: {'terminated' if code == 143 else 'interrupted'}; no output was written\n"
            )
        _forget_unhandled_interrupt()
        sys.exit(code)
    except SystemExit as e:
        # the command is over (its outputs written, or not, and said so): a signal arriving during
        # the interpreter's exit must not turn the exit code chosen into a death by signal (-2)
        _ignore_interrupts()
        if e.code in (130, 143):
            _forget_unhandled_interrupt()
        raise


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _forget_unhandled_interrupt() -> None:
    """CPython remembers a KeyboardInterrupt that went through code run by PyRun_String (some
    extension modules import that way) and, at exit, kills the process with SIGINT (returncode
    -2) even though the CLI handled it and chose exit 130. Running one empty statement through
    the same C path clears that flag."""
    try:
        import ctypes

        ctypes.pythonapi.PyRun_SimpleString(b"pass")
    except Exception:  # noqa: BLE001 - not CPython, or no ctypes: the exit stays as the interpreter decides
        pass
