"""Import time: whole processes, many runs, interleaved, median CPU time (user + system).

Rows, each a fresh ``python`` process:

- floor: ``import httpx, cryptography.hazmat.primitives.asymmetric.rsa`` (what a token client
  over httpx and cryptography cannot avoid);
- ``import jwtbearer``, and the common path ``import jwtbearer`` plus ``TokenClient``,
  ``SigningKey`` and ``CachedSource`` touched (what a service that gets tokens loads);
- peers, when installed (the ``bench`` extra): google-auth, Authlib, requests-oauth2client;
- ``jwtbearer --help`` against a bare typer app with the same commands, options and help texts
  (generated from the real command tree, with empty bodies): the CLI's own cost.

Both jwtbearer and the bare app run from compiled bytecode, as an installed wheel does.

Targets: ``import jwtbearer`` <= 1.25x the floor, ``jwtbearer --help`` <= 1.2x the bare app.
Prints a table and writes its section of bench/RESULTS.md (``--no-write`` to skip that).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

PY = sys.executable

FLOOR = "import httpx, cryptography.hazmat.primitives.asymmetric.rsa"
ROWS: list[tuple[str, str, str]] = [
    # (label, code, module that must be importable for the row to run)
    ("floor: httpx + cryptography rsa", FLOOR, "httpx"),
    ("import jwtbearer", "import jwtbearer", "jwtbearer"),
    ("jwtbearer common path (TokenClient, SigningKey, CachedSource)",
     "import jwtbearer as jb; jb.TokenClient; jb.SigningKey; jb.CachedSource", "jwtbearer"),
    ("google-auth (service_account + transport.requests)",
     "import google.oauth2.service_account, google.auth.transport.requests", "google.auth"),
    ("Authlib (httpx OAuth2Client + jose)",
     "import authlib.integrations.httpx_client, authlib.jose", "authlib"),
    ("requests-oauth2client", "import requests_oauth2client", "requests_oauth2client"),
]


def _bare_cli_source() -> str:
    """A typer app with jwtbearer's commands, options and help texts, and empty bodies."""
    import typer.main

    from jwtbearer.cli import app

    root = typer.main.get_command(app)
    out = [
        "import typer",
        "from typing import Annotated, Optional",
        "",
    ]
    counter = [0]

    # Duck-typed: typer may vendor its own click.
    def params(cmd: Any) -> str:
        parts = []
        for i, p in enumerate(cmd.params):
            name = f"p{i}"
            help_text = getattr(p, "help", None)
            if hasattr(p, "opts") and hasattr(p, "is_flag") and p.param_type_name == "option":
                decls = ", ".join(repr(o) for o in [*p.opts, *p.secondary_opts])
                if p.is_flag:
                    parts.append(f"{name}: Annotated[bool, typer.Option({decls}, "
                                 f"help={help_text!r})] = False")
                else:
                    parts.append(f"{name}: Annotated[Optional[str], typer.Option({decls}, "
                                 f"help={help_text!r})] = None")
            else:
                parts.append(f"{name}: Annotated[Optional[str], typer.Argument()] = None")
        return ", ".join(parts)

    def emit(group: Any, var: str) -> None:
        for name, cmd in group.commands.items():
            counter[0] += 1
            if hasattr(cmd, "commands"):
                sub = f"g{counter[0]}"
                out.append(f"{sub} = typer.Typer(help={cmd.help!r}, no_args_is_help=True)")
                out.append(f"{var}.add_typer({sub}, name={name!r})")
                emit(cmd, sub)
                continue
            out.append(f"@{var}.command({name!r}, help={cmd.help!r})")
            out.append(f"def c{counter[0]}({params(cmd)}) -> None:")
            out.append("    pass")
            out.append("")

    out.append(
        f"app = typer.Typer(name='jwtbearer', help={root.help!r}, epilog={root.epilog!r}, "
        "no_args_is_help=True, add_completion=False, rich_markup_mode='markdown', "
        "pretty_exceptions_enable=False)"
    )
    out.append("@app.callback()")
    out.append(f"def _root({params(root)}) -> None:")
    out.append("    pass")
    out.append("")
    assert hasattr(root, "commands")
    emit(root, "app")
    out.append("app()")
    return "\n".join(out) + "\n"


def _cpu_seconds(argv: list[str]) -> float:
    """User + system CPU seconds of one whole child process."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {stderr[-500:]}")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    parser.add_argument("--no-write", dest="write", action="store_false",
                        help="do not update bench/RESULTS.md")
    args = parser.parse_args()

    commands: list[tuple[str, list[str]]] = []
    for label, code, needs in ROWS:
        try:
            found = importlib.util.find_spec(needs) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if not found:
            print(f"(skipped, not installed: {label})", file=sys.stderr)
            continue
        commands.append((label, [PY, "-c", code]))
    import jwtbearer

    # Measure what an installed wheel runs: compiled bytecode. An editable install under
    # PYTHONDONTWRITEBYTECODE would compile every module on every run, while the floor's
    # site-packages have their .pyc files from installation.
    compileall.compile_dir(str(Path(jwtbearer.__file__).parent), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_cli.py"
        bare.write_text(_bare_cli_source())
        compileall.compile_file(str(bare), quiet=1)
        cli = ("import sys; sys.argv = ['jwtbearer', '--help']; "
               "from jwtbearer.cli import main; main()")
        bare_cli = (f"import sys; sys.path.insert(0, {tmp!r}); "
                    "sys.argv = ['jwtbearer', '--help']; import bare_cli")
        commands.append(("jwtbearer --help", [PY, "-c", cli]))
        commands.append(("bare typer app, same commands, --help", [PY, "-c", bare_cli]))

        samples: dict[str, list[float]] = {label: [] for label, _ in commands}
        for _label, argv in commands:  # warm the file cache and .pyc files
            _cpu_seconds(argv)
        started = time.perf_counter()
        for _ in range(args.runs):  # interleaved: every row sees the same machine load
            for label, argv in commands:
                samples[label].append(_cpu_seconds(argv))
        elapsed = time.perf_counter() - started

    median = {label: statistics.median(values) for label, values in samples.items()}
    floor = median[ROWS[0][0]]
    bare_median = median["bare typer app, same commands, --help"]
    rows = []
    for label, _ in commands:
        base = bare_median if "--help" in label else floor
        rows.append((label, median[label] * 1000, median[label] / base))
    table = [f"| process ({args.runs} runs each, interleaved) | median CPU ms | ratio |",
             "|---|---:|---:|"]
    table += [f"| {label} | {ms:.0f} | {ratio:.2f}x |" for label, ms, ratio in rows]
    if args.markdown:
        print("\n".join(table))
    else:
        print(f"{'process':64} {'median CPU ms':>14} {'ratio':>7}")
        for label, ms, ratio in rows:
            print(f"{label:64} {ms:14.0f} {ratio:6.2f}x")
        print(textwrap.dedent(f"""
            ratios: library rows against the floor, --help rows against the bare typer app;
            {args.runs} runs each, interleaved, {elapsed:.0f} s in all"""))
    targets = {
        "import jwtbearer": 1.25,
        "jwtbearer --help": 1.2,
    }
    failed = [f"{label} {median[label] / (bare_median if '--help' in label else floor):.2f}x "
              f"> {limit}x" for label, limit in targets.items()
              if median[label] / (bare_median if "--help" in label else floor) > limit]
    if failed:
        print("over target: " + "; ".join(failed), file=sys.stderr)
    if args.write:
        from _results import machine, write_section  # bench/ is on sys.path as a script

        verdict = "; ".join(failed) if failed else "both met"
        write_section("importtime", "\n".join([
            "## Import time (`bench/importtime.py`)",
            "",
            f"{machine()}. Whole processes (`python -c ...`), CPU time (user + system) of each "
            f"child, median of {args.runs} interleaved runs. Library rows are ratios to the floor "
            "(`import httpx, cryptography.hazmat.primitives.asymmetric.rsa`); `--help` rows to "
            "a bare typer app generated from the same command tree (same commands, options and "
            "help texts, empty bodies). Targets: `import jwtbearer` <= 1.25x the floor, "
            f"`jwtbearer --help` <= 1.2x the bare app: {verdict}.",
            "",
            *table,
        ]))


if __name__ == "__main__":
    main()
