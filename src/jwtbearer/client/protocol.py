"""The token endpoint protocol with no I/O: build a request, read a response, decide on retries.

Everything here is a pure function of its arguments (the time is passed in as ``now``), so the
sync and the async client share it line for line and tests need no network. Responses are read
tolerantly, as real servers answer (RFC 6749 §5.1/§5.2 plus what GitHub, Salesforce and Spring
actually send), and every failure becomes a typed error from :mod:`jwtbearer.errors`.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NoReturn
from urllib.parse import urlencode

from ..errors import (
    ConfigurationError,
    ResponseFormatError,
    TokenEndpointError,
    TransportError,
)
from .client_auth import ClientAuth, held_secrets
from .grants import Grant
from .response import (
    FORM_CONTENT_TYPE,
    MAX_RESPONSE_BYTES,
    parse_retry_after,
    parse_token_response,
)

__all__ = [
    "MAX_RESPONSE_BYTES",
    "RetryPolicy",
    "TokenRequest",
    "build_token_request",
    "parse_retry_after",
    "parse_token_response",
    "with_headers",
]

_SECRET_FORM_FIELDS = frozenset(
    {"client_secret", "client_assertion", "assertion", "refresh_token", "code", "code_verifier",
     "password", "subject_token", "actor_token"}
)


def _signature_or_value(value: str) -> str:
    """What is secret in a form value: a JWT's signature (its header and payload help to debug
    and prove nothing), else the whole value."""
    head, dot, signature = value.rpartition(".")
    return signature if dot and head.count(".") == 1 and signature else value


def _credential_forms(header: str) -> set[str]:
    """The secret forms of an ``Authorization`` value: the credential, and for Basic the
    ``id:secret`` pair and the secret, urlencoded (RFC 6749 §2.3.1) and raw, in Base64 too."""
    import base64
    import binascii
    from urllib.parse import unquote_plus

    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    forms = {credential} if credential else set()
    if scheme.lower() != "basic" or not credential:
        return forms
    try:
        pair = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return forms
    client_id, colon, secret = pair.partition(":")
    if not colon:
        return forms
    raw = f"{unquote_plus(client_id)}:{unquote_plus(secret)}"
    forms.update((pair, raw, secret, unquote_plus(secret)))
    for text in (pair, raw):
        encoded = base64.b64encode(text.encode("utf-8"))
        for variant in (encoded, base64.urlsafe_b64encode(text.encode("utf-8"))):
            forms.update((variant.decode("ascii"), variant.rstrip(b"=").decode("ascii")))
    return forms


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRequest:
    """A token request ready to send: ``POST url`` with ``headers`` and the form ``form``.

    ``repr()`` names the form fields but hides secret values and the ``Authorization`` header.
    """

    url: str
    headers: Mapping[str, str]
    form: Mapping[str, str]
    held: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """Secrets the client holds but does not send (an HMAC key): the server knows them too."""

    @property
    def secrets(self) -> frozenset[str]:
        """Every secret value this request carries or proves: what a server must not get to
        echo into a message (the one response parser redacts them from every error).

        The client secret and the ``Authorization`` credential in each encoding, tokens and
        codes sent in the form, and the signatures of assertions and of a DPoP proof.
        """
        values = set(self.held)
        for name, value in self.form.items():
            if name in _SECRET_FORM_FIELDS and value:
                values.add(_signature_or_value(value))
        for name, value in self.headers.items():
            if name.lower() == "authorization":
                values.update(_credential_forms(value))
            elif name.lower() == "dpop" and value:
                values.add(_signature_or_value(value))
        return frozenset(values)

    @property
    def body(self) -> bytes:
        """The form, ``application/x-www-form-urlencoded`` (RFC 6749 Appendix B)."""
        return urlencode(dict(self.form)).encode("ascii")

    def __repr__(self) -> str:
        form = {k: ("<hidden>" if k in _SECRET_FORM_FIELDS else v) for k, v in self.form.items()}
        headers = {
            k: ("<hidden>" if k.lower() == "authorization" else v) for k, v in self.headers.items()
        }
        return f"TokenRequest(url={self.url!r}, headers={headers!r}, form={form!r})"


def build_token_request(
    endpoint: str, grant: Grant, auth: ClientAuth, *, now: float
) -> TokenRequest:
    """The POST for ``grant`` authenticated by ``auth`` (RFC 6749 §3.2, §2.3).

    Assertions in the grant and in the client authentication are signed at ``now``. A field set
    by both the grant and the client authentication is refused: sending it twice would let the
    server pick either one (RFC 6749 §3.2: parameters must not be repeated).
    """
    form = grant.form(endpoint, now=now)
    auth_headers, auth_form = auth.apply(endpoint, now=now)
    clash = sorted(set(form) & set(auth_form))
    if clash:
        raise ConfigurationError(
            f"both the grant and the client authentication set {', '.join(clash)}; drop it from "
            "the grant (the client authentication owns client_* fields)"
        )
    form.update(auth_form)
    headers = {"Accept": "application/json", "Content-Type": FORM_CONTENT_TYPE}
    headers.update(auth_headers)
    return TokenRequest(url=endpoint, headers=MappingProxyType(headers), form=form,
                        held=held_secrets(auth))


def with_headers(request: TokenRequest, **headers: str) -> TokenRequest:
    """``request`` with ``headers`` added (a DPoP proof, RFC 9449 §4.1)."""
    merged = {**request.headers, **headers}
    return TokenRequest(url=request.url, headers=MappingProxyType(merged), form=request.form,
                        held=request.held)


# -- reading a body with a cap -----------------------------------------------------------------


class BodyReader:
    """Collects a response body, decompressing it, and stops once it passes ``limit`` bytes.

    The cap counts decompressed bytes and each step inflates at most ``limit + 1`` bytes, so a
    gzip bomb costs a megabyte of memory, not gigabytes.
    """

    __slots__ = ("_chunks", "_decoder", "_encoding", "_size", "host", "limit")

    def __init__(
        self,
        content_encoding: str | None,
        *,
        host: str,
        content_length: str | None = None,
        limit: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.limit, self.host = limit, host
        self._chunks: list[bytes] = []
        self._size = 0
        if content_length is not None and content_length.strip().isdigit() and (
            int(content_length) > limit
        ):
            self._too_large()
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise ResponseFormatError(
                f"{host} answered with Content-Encoding {content_encoding!r}; only gzip and "
                "deflate are accepted (and asked for)"
            )
        self._encoding = codings[0] if codings else None
        # gzip: wbits 16+15; deflate is zlib-wrapped per RFC 9110 §8.4.1.2 (raw is tried after).
        self._decoder = None
        if self._encoding is not None:
            self._decoder = zlib.decompressobj(31 if "gzip" in self._encoding else 15)

    def _too_large(self) -> NoReturn:
        raise ResponseFormatError(
            f"the answer from {self.host} is larger than {self.limit // 1024} KiB "
            "(after decompression); a token response is a few KiB: check the endpoint URL"
        )

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            self._too_large()
        self._chunks.append(data)

    def feed(self, raw: bytes) -> None:
        """Add raw (possibly compressed) bytes; ResponseFormatError once over the limit."""
        if self._decoder is None:
            self._keep(raw)
            return
        data = raw
        while data:
            try:
                out = self._decoder.decompress(data, self.limit - self._size + 1)
            except zlib.error as exc:
                if self._encoding == "deflate" and self._size == 0 and not self._chunks:
                    self._decoder = zlib.decompressobj(-15)
                    self._encoding = "raw deflate"
                    continue
                raise ResponseFormatError(
                    f"the {self._encoding} body from {self.host} is corrupt: {exc}"
                ) from None
            self._keep(out)
            data = self._decoder.unconsumed_tail
            if self._decoder.eof:
                break

    def finish(self) -> bytes:
        """The whole decoded body."""
        return b"".join(self._chunks)


# -- parsing a response -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When to send a token request again, and after how long.

    Retried: 5xx and ``server_error``/``temporarily_unavailable`` answers, 429 (after
    ``Retry-After``, RFC 6585 §4 / RFC 9110 §10.2.3, when it is at most ``max_retry_after``;
    a longer wait is left to the caller as :class:`RateLimited` with ``retry_after``),
    connection errors and timeouts. Never retried: the RFC 6749 §5.2 errors such as
    ``invalid_grant`` or ``invalid_client``, which a second identical try would only repeat.
    Backoff is exponential with full jitter, capped at ``max_delay``; ``attempts`` counts the
    first try. The client signs a new assertion for every attempt.
    """

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    deadline: float | None = None
    """Seconds for all attempts together (None: no bound beyond ``attempts`` × timeout): no
    attempt starts past it, and the last attempt's timeout shrinks to fit."""
    jitter: Callable[[], float] = field(default=random.random, repr=False, compare=False)
    """Returns a float in [0, 1); injected by tests."""

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or (
            self.attempts < 1
        ):
            raise ConfigurationError(f"attempts is a whole number >= 1, not {self.attempts!r}")
        for name in ("base_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ConfigurationError(f"{name} is a number of seconds >= 0, not {value!r}")
        if self.deadline is not None and (
            isinstance(self.deadline, bool) or not isinstance(self.deadline, (int, float))
            or not 0 < self.deadline < math.inf
        ):
            raise ConfigurationError(
                f"deadline is a number of seconds > 0 (or None), not {self.deadline!r}")

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt, no retry."""
        return cls(attempts=1)

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 60))
        return self.jitter() * ceiling

    def delay_for(
        self,
        attempt: int,
        *,
        status: int | None = None,
        retry_after: str | float | None = None,
        exception: BaseException | None = None,
        now: float,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up.

        ``attempt`` is the number of attempts made so far; ``status`` the HTTP status of the
        failed answer, ``retry_after`` its ``Retry-After`` (header text or seconds),
        ``exception`` the error it raised.
        """
        if attempt >= self.attempts:
            return None
        if isinstance(exception, TokenEndpointError):
            status = exception.status if status is None else status
            if retry_after is None:
                retry_after = exception.retry_after
        elif isinstance(exception, ResponseFormatError) and status is None:
            status = exception.status
        retryable_code = isinstance(exception, TokenEndpointError) and exception.error in (
            "server_error",
            "temporarily_unavailable",
        )
        if isinstance(exception, TransportError):
            return self.backoff(attempt)
        if isinstance(exception, ResponseFormatError) and (status is None or status < 500):
            return None  # a broken success answer (or a redirect) will not mend itself
        if not (retryable_code or status == 429 or (status is not None and status >= 500)):
            return None
        wait = (
            parse_retry_after(retry_after, now=now)
            if isinstance(retry_after, str)
            else retry_after
        )
        if wait is None:
            return self.backoff(attempt)
        if wait > self.max_retry_after:
            return None
        return max(0.0, float(wait))
