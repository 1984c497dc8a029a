"""The ``jwtbearer`` command: tokens, assertions, keys, diagnostics, the reference server.

Each group of commands lives in its own module and adds itself with ``register(app)``.
Errors print a message and a hint, never a traceback, and exit with a code that says what
kind of failure it was (see :data:`~jwtbearer.cli._common.EXIT_CODES_HELP`).
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Annotated

import typer

from . import inspect_cmds, keys_cmds, profiles_cmds, token_cmds, verify_cmds
from ._common import EXIT_CODES_HELP, EXIT_FAILED, err

__all__ = ["app", "main"]

app = typer.Typer(
    name="jwtbearer",
    help="Server-to-server OAuth 2.0 with JWTs: get tokens, sign and inspect assertions, manage "
    "keys, explain token endpoint errors, run the reference server.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    # Tracebacks with local variables would print keys, secrets and tokens.
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)


def _version() -> str:
    # Loaded here: importlib.metadata costs more than the rest of --help.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jwtbearer")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"jwtbearer {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Server-to-server OAuth 2.0 with JWTs."""


token_cmds.register(app)
keys_cmds.register(app)
inspect_cmds.register(app)
profiles_cmds.register(app)
verify_cmds.register(app)


def _server_cmds() -> ModuleType | None:
    try:
        return importlib.import_module("jwtbearer.cli.server_cmds")
    except ModuleNotFoundError as exc:
        if exc.name == "jwtbearer.cli.server_cmds":
            return None  # a build without the server commands
        raise


server_cmds = _server_cmds()
if server_cmds is not None:
    server_cmds.register(app)


def _run_json() -> int:
    """Run with ``--json``: a bad command line is a JSON error on stdout too."""
    from ._common import EXIT_USAGE, error_document, print_json, use_json
    use_json(True)
    try:
        code = app(standalone_mode=False)
    except Exception as exc:
        # click's UsageError (typer bundles its own click, so matched by shape).
        if getattr(exc, "exit_code", None) != EXIT_USAGE or not hasattr(exc, "format_message"):
            raise
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if ctx is not None else "jwtbearer"
        print_json(error_document(exc.format_message(), EXIT_USAGE, f"see `{path} --help`"))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILED
    return code if isinstance(code, int) else 0


def main() -> None:
    """Entry point of the ``jwtbearer`` command."""
    from ..errors import redact
    try:
        if "--json" in sys.argv[1:]:
            sys.exit(_run_json())
        app()
    except Exception as exc:  # last resort: a message, never locals or secrets
        if os.environ.get("JWTBEARER_DEBUG"):
            raise
        err.print(f"internal error: {type(exc).__name__}: {redact(str(exc))}", markup=False)
        err.print("Set JWTBEARER_DEBUG=1 for the traceback, and report it.", markup=False)
        sys.exit(EXIT_FAILED)
