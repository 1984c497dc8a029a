"""``jwtbearer serve`` and ``jwtbearer demo``: the reference token endpoint from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigurationError, JWTBearerError, KeyLoadError
from ._common import EXIT_CONFIG, EXIT_FAILED, fail, print_json, use_json
from ._wording import shell_words

if TYPE_CHECKING:
    import ssl

__all__ = ["register"]

_INSTALL_HINT = "the server needs uvicorn: pip install 'jwtbearer[server]'"


def _server_extra(console: Console) -> None:
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        console.print(f"[red]error:[/] {escape(_INSTALL_HINT)}")
        raise typer.Exit(EXIT_CONFIG) from None


def _port(issuer: str, port: int | None) -> int:
    if port is not None:
        return port
    parts = urlsplit(issuer)
    try:
        return parts.port or 8000
    except ValueError:
        return 8000


def serve(
    config: Annotated[Path, typer.Option("--config", "-c", help="Server TOML file.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(
        help="Port to listen on (default: the issuer's port, else 8000).")] = None,
    header_timeout: Annotated[float | None, typer.Option(
        help="Seconds a client has to send a whole request head (config: header_timeout, "
        "default 10).")] = None,
    body_timeout: Annotated[float | None, typer.Option(
        help="Seconds a client has to send a request body (config: body_timeout, default 30)."
    )] = None,
    keep_alive_timeout: Annotated[float | None, typer.Option(
        help="Seconds an idle keep-alive connection stays open (config: keep_alive_timeout, "
        "default 5).")] = None,
    max_connections: Annotated[int | None, typer.Option(
        help="Connections served at once; more get 503 (config: max_connections, default 512 "
        "per CPU core).")] = None,
    preset: Annotated[str | None, typer.Option(
        help="Stand in for a provider: salesforce or google (the file's own keys still win).",
        metavar="NAME")] = None,
    workers: Annotated[int, typer.Option(
        min=1, max=256, help="Server processes on the port (more than 1 needs replay = redis://)."
    )] = 1,
    tls_cert: Annotated[Path | None, typer.Option(
        help="Serve HTTPS with this PEM certificate (chain).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The private key of --tls-cert.")] = None,
    client_ca: Annotated[Path | None, typer.Option(
        help="CA certificates (PEM) that TLS client certificates may come from (RFC 8705).")
    ] = None,
    client_cert: Annotated[str, typer.Option(
        help="With --client-ca: optional or required.", metavar="optional|required")
    ] = "optional",
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No line per request (errors and the start line still show).")
    ] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="JSON lines on stdout: the start, then one object per request.")] = False,
) -> None:
    """Run the reference token endpoint (RFC 7523 / RFC 6749) from a TOML configuration.

    Prints where it listens, then one line per token request (time, client id, grant, status,
    error code, milliseconds; never a token or a secret) until Ctrl-C.
    """
    use_json(as_json)
    console = Console(stderr=True)
    if not as_json:
        _server_extra(console)
    else:
        try:
            import uvicorn  # noqa: F401
        except ImportError:
            fail(_INSTALL_HINT)
    from ..server.config import load_config
    from ..server.core import TokenEndpoint
    from ..server.limits import ServerLimits

    try:
        settings = load_config(config, preset=preset)
        endpoint = TokenEndpoint(settings)
        limits = ServerLimits(
            header_timeout=header_timeout or settings.header_timeout,
            body_timeout=body_timeout or settings.body_timeout,
            keep_alive_timeout=keep_alive_timeout or settings.keep_alive_timeout,
            max_connections=max_connections or settings.max_connections,
        )
        if workers > 1:
            from ..server.workers import check_shared_state

            check_shared_state(settings.replay, workers)
        context = _tls_context(settings, tls_cert, tls_key, client_ca, client_cert, workers)
    except (ConfigurationError, KeyLoadError, ValueError) as exc:
        if as_json:
            fail(f"configuration refused: {exc}", EXIT_CONFIG, exc=exc)
        console.print(f"[red]configuration refused:[/] {escape(shell_words(str(exc)))}",
                      highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    from ..server.app import app_for, uvicorn_server
    from .serve_log import LoggedEndpoint, json_line, request_line

    port = _port(settings.issuer, port)
    if not as_json:
        _print_settings(console, settings, port)

    def log(record: dict[str, object]) -> None:
        if as_json:
            typer.echo(json_line(record))
        else:
            console.print(request_line(record), highlight=False, soft_wrap=True)

    def make_app() -> object:
        inner = TokenEndpoint(settings) if workers > 1 else endpoint
        return app_for(inner) if quiet else app_for(inner, wrap=lambda e: LoggedEndpoint(e, log))

    scheme = "http" if context is None else "https"
    url = f"{scheme}://{host if ':' not in host else f'[{host}]'}:{port}"
    started = {"event": "listening", "url": url, "issuer": settings.issuer,
               "token_endpoint": settings.token_endpoint, "workers": workers}
    from ..server.workers import listen_failure, listen_sockets, run_workers
    try:
        socks = listen_sockets(host, port, workers)
    except OSError as exc:
        message, hint = listen_failure(host, port, exc)
        fail(message, EXIT_CONFIG, hint=hint)
    _listening(console, started, as_json)
    if context is not None and not as_json:
        asked = "off" if context.verify_mode == 0 else client_cert  # 0: ssl.CERT_NONE
        console.print(f"TLS             client certificates {asked}", highlight=False)
    if workers > 1:
        # Each worker builds its own endpoint (its own Redis connections) after the fork.
        raise typer.Exit(run_workers(make_app, host=host, port=port, workers=workers,
                                     limits=limits, sockets=socks))
    try:
        uvicorn_server(make_app(), limits=limits, ssl_context=context).run(sockets=socks)
    finally:
        for sock in socks:
            sock.close()


def _listening(console: Console, started: dict[str, object], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(started))
    else:
        console.print(f"listening on {started['url']} (token endpoint "
                      f"{started['token_endpoint']}), Ctrl-C to stop", highlight=False,
                      soft_wrap=True, markup=False)


def _print_settings(console: Console, settings: Any, port: int) -> None:
    table = Table(title=f"jwtbearer token endpoint  {settings.issuer}", show_lines=False)
    table.add_column("client_id")
    table.add_column("authentication")
    table.add_column("grants")
    table.add_column("scopes")
    for client in settings.clients.values():
        grants = ", ".join("jwt-bearer" if g.endswith("jwt-bearer") else g
                           for g in client.grant_types)
        table.add_row(escape(client.client_id), client.token_endpoint_auth_method, grants,
                      escape(" ".join(client.scopes)))
    console.print(table)
    if settings.preset is not None:
        console.print(f"preset          {settings.preset}")
    console.print(f"token endpoint  {settings.token_endpoint}\n"
                  f"authorize       {settings.authorization_endpoint}\n"
                  f"jwks            {settings.jwks_uri}")
    if settings.assertion_audiences:
        console.print("assertion aud   " + ", ".join(
            (settings.issuer, settings.token_endpoint, *settings.assertion_audiences)))
    issuer = urlsplit(settings.issuer)
    if issuer.hostname in ("127.0.0.1", "localhost") and issuer.port not in (None, port):
        console.print(f"[yellow]warning:[/] issuer names port {issuer.port} but the server "
                      f"listens on {port}; assertions must use aud = {settings.token_endpoint}")


def _tls_context(settings: Any, cert: Path | None, key: Path | None, client_ca: Path | None,
                 client_cert: str, workers: int) -> ssl.SSLContext | None:
    if cert is None and key is None:
        if client_ca is not None:
            raise ConfigurationError("--client-ca needs --tls-cert and --tls-key")
        return None
    if cert is None or key is None:
        raise ConfigurationError("--tls-cert and --tls-key go together")
    if workers > 1:
        raise ConfigurationError("--tls-cert serves one process: drop --workers, or terminate "
                                 "TLS in front of the workers")
    from ..server.tls import server_context, trusted_client_certificates

    return server_context(cert, key, client_ca=client_ca, client_cert=client_cert,
                          trusted=trusted_client_certificates(settings.clients.values()))


def demo(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Run quietly and print {\"ok\": ..., \"exit_code\": ...}.")] = False,
) -> None:
    """Run the whole JWT bearer flow (JWT → JWS → JWTBearerTokenExchange) on a local server."""
    import io
    use_json(as_json)
    console = Console(file=io.StringIO()) if as_json else Console()
    if as_json:
        try:
            import uvicorn  # noqa: F401
        except ImportError:
            fail(_INSTALL_HINT)
    else:
        _server_extra(console)
    from .demo import run_demo

    try:
        status = run_demo(console)
    except JWTBearerError as exc:  # the demo's own steps failed: say which, no traceback
        if as_json:
            fail(f"the demo failed: {exc}", EXIT_FAILED, exc=exc)
        console.print(f"[red]the demo failed:[/] {escape(str(exc))}", highlight=False)
        status = EXIT_FAILED
    if as_json:
        print_json({"ok": status == 0, "exit_code": status})
    raise typer.Exit(status)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``demo`` to the ``jwtbearer`` command."""
    app.command("serve")(serve)
    app.command("demo")(demo)
