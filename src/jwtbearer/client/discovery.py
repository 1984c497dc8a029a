"""Authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0) and clients built on it.

``jb.discover(issuer)`` finds where the token endpoint and the JWKS are, which client
authentication methods and algorithms the server takes, and checks that the document belongs to
the issuer asked for (RFC 8414 §3.3). Documents are fetched with the token client's transport
rules (:mod:`jwtbearer.client.transport`) and cached per issuer for ``Cache-Control: max-age``
(no floor: ``max-age=0`` is not cached), one hour when the server says nothing.

``TokenClient.from_issuer`` uses the metadata: the token endpoint, the issuer as the ``aud`` of
JWT client authentication (draft-ietf-oauth-rfc7523bis: the issuer alone), and the chosen method
and algorithm checked against what the server publishes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx

from .._flow import Flow, arun, run
from ..errors import ConfigurationError, DiscoveryError, ResponseFormatError
from ..token import Clock, system_clock
from ._fetch import Fetched, afetch, fetch, max_age
from .client_auth import (
    ClientAuth,
    ClientSecretBasic,
    ClientSecretJWT,
    ClientSecretPost,
    NoClientAuth,
    PrivateKeyJWT,
    SelfSignedTLSClientAuth,
    TLSClientAuth,
    mtls_endpoint,
)
from .transport import check_endpoint

__all__ = ["DEFAULT_METADATA_MAX_AGE", "ServerMetadata", "adiscover", "discover",
           "metadata_urls"]

#: How long a metadata document is reused when the server sends no ``Cache-Control: max-age``.
DEFAULT_METADATA_MAX_AGE = 3600.0

_OAUTH = "/.well-known/oauth-authorization-server"
_OIDC = "/.well-known/openid-configuration"
_LISTS = (
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "grant_types_supported",
    "dpop_signing_alg_values_supported",
)
_URLS = ("token_endpoint", "jwks_uri", "authorization_endpoint")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerMetadata:
    """An authorization server's metadata (RFC 8414 §2), checked.

    The ``*_supported`` lists are empty when the server does not publish them (so nothing is
    checked against them); every other member is kept in ``extra``. ``url`` is where the
    document was read from.
    """

    issuer: str
    token_endpoint: str | None = None
    jwks_uri: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    token_endpoint_auth_signing_alg_values_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ()
    dpop_signing_alg_values_supported: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    url: str | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any], *, url: str | None = None
                      ) -> ServerMetadata:
        """Check a metadata JSON object; a DiscoveryError names the member that is wrong."""
        where = url or "the metadata document"
        issuer = document.get("issuer")
        if not isinstance(issuer, str) or not issuer:
            raise DiscoveryError(f"{where}: 'issuer' is missing or not a string (RFC 8414 §2)")
        values: dict[str, Any] = {}
        for name in _URLS:
            value = document.get(name)
            if value is not None and not isinstance(value, str):
                raise DiscoveryError(f"{where}: '{name}' must be a URL string, not {value!r}")
            values[name] = value
        for name in _LISTS:
            value = document.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DiscoveryError(f"{where}: '{name}' must be an array of strings")
            values[name] = tuple(value)
        extra = {k: v for k, v in document.items() if k not in (*_URLS, *_LISTS, "issuer")}
        return cls(issuer=issuer, extra=MappingProxyType(extra), url=url, **values)


def metadata_urls(issuer_or_url: str) -> list[str]:
    """Where to look, in order: RFC 8414 §3.1 (``/.well-known/`` inserted before the issuer's
    path), then OpenID Connect Discovery §4 (appended to the issuer). A URL that already holds
    ``/.well-known/`` is used as given."""
    if "/.well-known/" in issuer_or_url:
        return [issuer_or_url]
    url = httpx.URL(issuer_or_url)
    origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
    path = url.path.rstrip("/")
    return [f"{origin}{_OAUTH}{path}", f"{origin}{path}{_OIDC}"]


def _expected_issuer(issuer_or_url: str) -> str | None:
    """The issuer a document must name: the one asked for, or the one its URL is built from."""
    if "/.well-known/" not in issuer_or_url:
        return issuer_or_url
    url = httpx.URL(issuer_or_url)
    origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
    if url.path.startswith(_OAUTH):
        return origin + url.path[len(_OAUTH):]
    if url.path.endswith(_OIDC):
        return origin + url.path[: -len(_OIDC)]
    return None


def _same_issuer(asked: str, published: str) -> bool:
    # RFC 8414 §3.3 compares exactly; a trailing slash alone is forgiven (Auth0 publishes one,
    # users type none), as it names the same origin and path.
    return asked == published or asked.rstrip("/") == published.rstrip("/")


def _accept(fetched: Fetched, issuer_or_url: str) -> ServerMetadata:
    if 300 <= fetched.status < 400:
        raise DiscoveryError(
            f"{fetched.url} answered with a redirect ({fetched.status}) to "
            f"{fetched.headers.get('location', '?')!r}; metadata redirects are not followed: "
            "use the issuer the server names"
        )
    if fetched.status != 200:
        raise DiscoveryError(f"{fetched.url} answered HTTP {fetched.status}")
    try:
        document = fetched.json_object("metadata")
    except ResponseFormatError as exc:
        raise DiscoveryError(str(exc)) from None
    metadata = ServerMetadata.from_document(document, url=fetched.url)
    expected = _expected_issuer(issuer_or_url)
    if expected is None:
        if httpx.URL(metadata.issuer).netloc != httpx.URL(fetched.url).netloc:
            raise DiscoveryError(
                f"{fetched.url} names issuer {metadata.issuer!r} on another host; RFC 8414 "
                "§3.3 forbids using it"
            )
    elif not _same_issuer(expected, metadata.issuer):
        raise DiscoveryError(
            f"{fetched.url} names issuer {metadata.issuer!r}, not {expected!r}; RFC 8414 §3.3 "
            "forbids using metadata for another issuer (check the issuer URL, including its "
            "path)"
        )
    return metadata


_cache: dict[str, tuple[ServerMetadata, float]] = {}
_cache_lock = threading.Lock()


def _cached(key: str, now: float) -> ServerMetadata | None:
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and now < hit[1]:
        return hit[0]
    return None


def _store(key: str, metadata: ServerMetadata, fetched: Fetched, now: float) -> None:
    seconds = max_age(fetched.headers)
    seconds = DEFAULT_METADATA_MAX_AGE if seconds is None else seconds
    if seconds > 0:
        with _cache_lock:
            _cache[key] = (metadata, now + seconds)


def _try_next(fetched: Fetched, last: bool) -> bool:
    """True to try the next well-known URL (this one is not there)."""
    return not last and fetched.status in (400, 401, 403, 404, 405, 410)


def _not_found(issuer_or_url: str, urls: list[str]) -> DiscoveryError:
    return DiscoveryError(
        f"no authorization server metadata for {issuer_or_url!r} at {' or '.join(urls)}; check "
        "the issuer URL (the server's 'issuer', not its token endpoint)"
    )


def discover(issuer_or_metadata_url: str, *, http: httpx.Client | None = None,
             timeout: float = 10.0, allow_insecure_http: bool = False,
             clock: Clock | None = None) -> ServerMetadata:
    """The metadata of an issuer (or read from a metadata URL), cached per issuer.

    ``http`` is an ``httpx.Client`` of yours (left open; redirects are never followed).
    ``timeout`` bounds each request as a whole. Raises :class:`DiscoveryError` when no usable
    document is found, :class:`TransportError` when the server cannot be reached.
    """
    return run(_discovery(issuer_or_metadata_url, allow_insecure_http, clock),
               lambda url: fetch(url, http=http, timeout=timeout,
                                 allow_insecure_http=allow_insecure_http, what="metadata"))


async def adiscover(issuer_or_metadata_url: str, *, http: httpx.AsyncClient | None = None,
                    timeout: float = 10.0, allow_insecure_http: bool = False,
                    clock: Clock | None = None) -> ServerMetadata:
    """The async twin of :func:`discover` (``http``: an ``httpx.AsyncClient``); same cache."""
    return await arun(_discovery(issuer_or_metadata_url, allow_insecure_http, clock),
                      lambda url: afetch(url, http=http, timeout=timeout,
                                         allow_insecure_http=allow_insecure_http,
                                         what="metadata"))


def _discovery(issuer_or_metadata_url: str, allow_insecure_http: bool,
               clock: Clock | None) -> Flow[str, ServerMetadata]:
    """The one discovery core: yields each metadata URL to GET, receives the answer."""
    check_endpoint(issuer_or_metadata_url, allow_insecure_http, what="issuer")
    now = (clock or system_clock)()
    hit = _cached(issuer_or_metadata_url, now)
    if hit is not None:
        return hit
    urls = metadata_urls(issuer_or_metadata_url)
    for index, url in enumerate(urls):
        fetched: Fetched = yield url
        if _try_next(fetched, index == len(urls) - 1):
            continue
        if fetched.status in (404, 410):
            raise _not_found(issuer_or_metadata_url, urls)
        metadata = _accept(fetched, issuer_or_metadata_url)
        _store(issuer_or_metadata_url, metadata, fetched, now)
        return metadata
    raise _not_found(issuer_or_metadata_url, urls)  # pragma: no cover - loop always returns


# -- clients from metadata ------------------------------------------------------------------------

_METHODS: dict[type, str] = {
    ClientSecretBasic: "client_secret_basic",
    ClientSecretPost: "client_secret_post",
    ClientSecretJWT: "client_secret_jwt",
    PrivateKeyJWT: "private_key_jwt",
    TLSClientAuth: "tls_client_auth",
    SelfSignedTLSClientAuth: "self_signed_tls_client_auth",
}

def _auth_for_issuer(auth: ClientAuth, metadata: ServerMetadata) -> ClientAuth:
    """``auth`` checked against the metadata, with the issuer as the aud of a JWT assertion."""
    method = _METHODS.get(type(auth))
    supported = metadata.token_endpoint_auth_methods_supported
    # NoClientAuth: a JWT bearer grant may authenticate the client itself (RFC 7523 §3.1), so
    # servers need not list "none"; a custom ClientAuth has no registered name to check.
    if method is not None and supported and method not in supported:
        raise ConfigurationError(
            f"{metadata.issuer} does not accept {method} client authentication; it supports "
            f"{', '.join(supported)} (token_endpoint_auth_methods_supported)"
        )
    if isinstance(auth, (ClientSecretJWT, PrivateKeyJWT)):
        alg = auth.alg if isinstance(auth, ClientSecretJWT) else auth._key.alg
        algs = metadata.token_endpoint_auth_signing_alg_values_supported
        if algs and alg not in algs:
            raise ConfigurationError(
                f"{metadata.issuer} does not accept {alg} for {method} assertions; it supports "
                f"{', '.join(algs)} (token_endpoint_auth_signing_alg_values_supported)"
            )
        if auth.audience is None:
            # draft-ietf-oauth-rfc7523bis §4: the client assertion's aud is the issuer alone.
            return dataclasses.replace(auth, audience=metadata.issuer)
    return auth


def _token_endpoint(metadata: ServerMetadata) -> str:
    if not metadata.token_endpoint:
        raise DiscoveryError(f"{metadata.url or metadata.issuer}: no token_endpoint published")
    return metadata.token_endpoint


def client_arguments(auth: ClientAuth | None, metadata: ServerMetadata, *, mtls: bool = False
                     ) -> tuple[str, ClientAuth]:
    """The token endpoint and the checked client authentication for ``from_issuer``; with
    ``mtls`` (a client certificate) the ``mtls_endpoint_aliases`` one when published
    (RFC 8705 §5)."""
    if auth is None:
        auth = NoClientAuth()
    if not isinstance(auth, ClientAuth):
        raise ConfigurationError(
            "auth must be a client authentication: NoClientAuth, ClientSecretBasic, "
            "ClientSecretPost, ClientSecretJWT or PrivateKeyJWT"
        )
    endpoint = _token_endpoint(metadata)
    if mtls or isinstance(auth, (TLSClientAuth, SelfSignedTLSClientAuth)):
        endpoint = mtls_endpoint({**metadata.extra, "token_endpoint": endpoint})
    return endpoint, _auth_for_issuer(auth, metadata)
