"""``jwtbearer serve`` and ``jwtbearer demo``: the reference token endpoint from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigurationError, JWTBearerError, KeyLoadError
from ._common import EXIT_CONFIG, EXIT_FAILED

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


def serve(
    config: Annotated[Path, typer.Option("--config", "-c", help="Server TOML file.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
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
) -> None:
    """Run the reference token endpoint (RFC 7523 / RFC 6749) from a TOML configuration."""
    console = Console(stderr=True)
    _server_extra(console)
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
        console.print(f"[red]configuration refused:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    import uvicorn

    from ..server.app import app_for, uvicorn_options

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
    if context is not None:
        from ..server.app import listen_socket, uvicorn_server

        asked = "off" if context.verify_mode == 0 else client_cert  # 0: ssl.CERT_NONE
        console.print(f"TLS             client certificates {asked}")
        uvicorn_server(app_for(endpoint), limits=limits, ssl_context=context).run(
            sockets=[listen_socket(host, port)])
        return
    if workers > 1:
        from ..server.workers import run_workers

        # Each worker builds its own endpoint (its own Redis connections) after the fork.
        raise typer.Exit(run_workers(lambda: app_for(TokenEndpoint(settings)), host=host,
                                     port=port, workers=workers, limits=limits))
    uvicorn.run(app_for(endpoint), host=host, port=port, workers=1,
                **uvicorn_options(limits=limits))


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


def demo() -> None:
    """Run the whole JWT bearer flow (JWT → JWS → JWTBearerTokenExchange) on a local server."""
    console = Console()
    _server_extra(console)
    from .demo import run_demo

    try:
        status = run_demo(console)
    except JWTBearerError as exc:  # the demo's own steps failed: say which, no traceback
        console.print(f"[red]the demo failed:[/] {escape(str(exc))}", highlight=False)
        status = EXIT_FAILED
    raise typer.Exit(status)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``demo`` to the ``jwtbearer`` command."""
    app.command("serve")(serve)
    app.command("demo")(demo)
