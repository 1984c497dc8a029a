"""TLS for the reference server, with client certificates for mutual TLS (RFC 8705).

uvicorn terminates TLS but does not hand the client certificate to the ASGI app. The server's
protocol classes (``limits.py``, subclasses of uvicorn's own httptools and h11 protocols) call
:func:`tls_extension` when a connection is made: it reads the peer certificate from the TLS
transport, and :class:`WithTLS` gives that connection's requests the ASGI TLS extension
(``scope["extensions"]["tls"]``, with ``client_cert_chain`` as PEM strings, as the ASGI spec
words it). :func:`server_context` builds the server's ``SSLContext``: its certificate,
the CAs client certificates may come from (``--client-ca``), the self-signed certificates of
clients registered for ``self_signed_tls_client_auth`` (trusted for the handshake only, RFC
8705 §2.2), and whether a client certificate is optional or required.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..errors import ConfigurationError
from .registry import Client

__all__ = ["WithTLS", "server_context", "tls_extension", "trusted_client_certificates"]


def trusted_client_certificates(clients: Iterable[Client]) -> list[x509.Certificate]:
    """The registered certificates of ``self_signed_tls_client_auth`` clients."""
    return [k.certificate for c in clients
            if c.token_endpoint_auth_method == "self_signed_tls_client_auth"
            for k in c.keys if k.certificate is not None]


def server_context(cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str], *,
                   client_ca: str | os.PathLike[str] | None = None,
                   client_cert: str = "optional",
                   trusted: Iterable[x509.Certificate] = ()) -> ssl.SSLContext:
    """The server's TLS context; ``client_cert`` is ``"optional"`` or ``"required"``."""
    if client_cert not in ("optional", "required"):
        raise ConfigurationError(f"client_cert is optional or required, not {client_cert!r}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(os.fspath(cert_file), os.fspath(key_file))
        if client_ca is not None:
            context.load_verify_locations(cafile=os.fspath(client_ca))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load the server's TLS files: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from None
    pems = "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in trusted)
    if pems:
        context.load_verify_locations(cadata=pems)
    if client_ca is not None or pems:
        context.verify_mode = ssl.CERT_REQUIRED if client_cert == "required" \
            else ssl.CERT_OPTIONAL
    elif client_cert == "required":
        raise ConfigurationError("client certificates are required but no CA is given: "
                                 "pass --client-ca (or register self-signed clients)")
    return context


def tls_extension(transport: Any) -> dict[str, Any] | None:
    """The ASGI TLS extension for a connection, or None when it is not TLS."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [] if der is None else [ssl.DER_cert_to_PEM_cert(der)]
    cipher = ssl_object.cipher()
    return {"server_cert": None, "client_cert_chain": chain, "client_cert_name": None,
            "client_cert_error": None, "tls_version": None,
            "cipher_suite": None if cipher is None else cipher[0]}


class WithTLS:
    """The app, with the connection's TLS extension put in each request's scope."""

    __slots__ = ("app", "tls")

    def __init__(self, app: Any, tls: dict[str, Any]) -> None:
        self.app, self.tls = app, tls

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        extensions = scope.setdefault("extensions", {})
        extensions["tls"] = self.tls
        await self.app(scope, receive, send)
