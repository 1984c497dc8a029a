"""What every command shares: consoles, exit codes, error printing, key and secret input."""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from cryptography import x509

    from ..errors import JWTBearerError
    from ..jose.keys import SigningKey, VerifyingKey
    from ..jose.keystore import KeyStore
    from ..signers import RemoteSigner


#: Exit codes; documented in ``jwtbearer --help``.
EXIT_OK = 0
EXIT_FAILED = 1  # a check failed (inspect found errors, a signature did not verify)
EXIT_USAGE = 2  # bad command line (click's own code)
EXIT_CONFIG = 3  # configuration, key or input error
EXIT_ENDPOINT = 4  # the token endpoint answered an error
EXIT_TRANSPORT = 5  # no answer: connection, TLS, timeout
EXIT_RESPONSE = 6  # an answer that is not a usable token response

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 check failed, 2 usage, 3 configuration/key/input, "
    "4 token endpoint error, 5 transport error, 6 unusable response."
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape(text: str) -> str:
    """Text made safe to print: no rich markup, and no terminal control sequences (a token's
    claims are attacker-controlled and could otherwise rewrite the screen)."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
    return text.replace("[", r"\[")


def exit_code_for(exc: JWTBearerError) -> int:
    from ..errors import (
        ConfigurationError,
        JWSError,
        KeyLoadError,
        ResponseFormatError,
        TokenEndpointError,
        TransportError,
    )
    if isinstance(exc, TokenEndpointError):
        return EXIT_ENDPOINT
    if isinstance(exc, TransportError):
        return EXIT_TRANSPORT
    if isinstance(exc, ResponseFormatError):
        return EXIT_RESPONSE
    if isinstance(exc, (ConfigurationError, KeyLoadError, JWSError)):
        return EXIT_CONFIG
    return EXIT_FAILED


_KIND_BY_CODE = {EXIT_FAILED: "CheckFailed", EXIT_USAGE: "UsageError",
                 EXIT_CONFIG: "ConfigurationError", EXIT_ENDPOINT: "TokenEndpointError",
                 EXIT_TRANSPORT: "TransportError", EXIT_RESPONSE: "ResponseFormatError"}


class _Mode:
    """Whether the running command was given ``--json`` (errors then go to stdout as JSON)."""

    as_json = False


def use_json(flag: bool) -> None:
    """Called by each command with its ``--json`` flag, before anything can fail."""
    _Mode.as_json = flag


def json_mode() -> bool:
    """True when the running command prints JSON."""
    return _Mode.as_json


def error_document(message: str, code: int, hint: str | None = None,
                   exc: BaseException | None = None) -> dict[str, object]:
    """``{"error": {...}}``: what a failing command prints with ``--json``; the names are the
    library's attribute names (TokenEndpointError.status, .error, .error_description, .hint)."""
    from ..errors import redact
    from ._wording import shell_words
    own_hint = getattr(exc, "hint", None)
    if isinstance(own_hint, str):
        hint = own_hint  # the library's TokenEndpointError.hint, not the CLI's extra lines
    message, hint = shell_words(message), None if hint is None else shell_words(hint)
    status = getattr(exc, "status", None)
    error = getattr(exc, "error", None)
    description = getattr(exc, "error_description", None)
    return {"error": {
        "kind": type(exc).__name__ if exc is not None else _KIND_BY_CODE.get(code, "Error"),
        "status": status if isinstance(status, int) else None,
        "error": error if isinstance(error, str) else None,
        "error_description": redact(description) if isinstance(description, str) else None,
        "message": redact(message),
        "hint": redact(hint) if hint else None,
        "exit_code": code,
    }}


def print_json(document: object) -> None:
    """JSON on stdout, indented, one document."""
    import json
    typer.echo(json.dumps(document, indent=2, default=str))


def fail(message: str, code: int = EXIT_CONFIG, hint: str | None = None,
         exc: BaseException | None = None) -> NoReturn:
    """Print an error (and a hint) on stderr and exit with ``code``; never a traceback.

    With ``--json`` the error is a JSON document on stdout instead (:func:`error_document`).
    """
    from ..errors import redact
    from ._wording import shell_words
    message, hint = shell_words(message), None if hint is None else shell_words(hint)
    if _Mode.as_json:
        print_json(error_document(message, code, hint, exc))
        raise typer.Exit(code)
    err.print(f"[bold red]error:[/] {escape(redact(message))}")
    if hint:
        err.print(f"[yellow]hint:[/] {escape(redact(hint))}")
    raise typer.Exit(code)


@contextmanager
def handled() -> Iterator[None]:
    """Turn jwtbearer errors into a message, a hint and a distinct exit code."""
    from ..errors import JWTBearerError, TokenEndpointError, TransportError
    try:
        yield
    except TokenEndpointError as exc:
        first, _, rest = str(exc).partition("\n")
        hint = exc.hint or rest or None
        if hint is None or hint.strip() == "":
            hint = "Run `jwtbearer explain` with the error body for what to check."
        else:
            hint += "\nRun `jwtbearer explain` with the error body for more."
        fail(first, exit_code_for(exc), hint, exc)
    except TransportError as exc:
        fail(str(exc), EXIT_TRANSPORT, "Check the token URL, the network and any proxy; "
             "the server did not answer.", exc)
    except JWTBearerError as exc:
        first, _, rest = str(exc).partition("\n")
        fail(first, exit_code_for(exc), rest or None, exc)


def read_secret(*, env: str | None, file: Path | None, stdin: bool, what: str) -> str | None:
    """A secret from an environment variable, a file or stdin (never from a flag value)."""
    from .._util import read_env, read_secret_file
    from ..errors import ConfigurationError
    chosen = [x for x in (env, file, stdin or None) if x]
    if len(chosen) > 1:
        fail(f"give the {what} one way only: an environment variable, a file or stdin")
    if env or file is not None:
        try:
            return read_env(env) if env else read_secret_file(file)  # type: ignore[arg-type]
        except ConfigurationError as exc:
            fail(f"the {what}: {exc}")
    if stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            fail(f"no {what} on stdin")
        return value
    return None


def _token_reference(store: KeyStore, name: str) -> tuple[str, x509.Certificate | None] | None:
    from ..jose.keystore import looks_like_key_file
    from .pkcs11_keys import stored_certificate, stored_reference

    uri = None if looks_like_key_file(name) else stored_reference(store, name)
    return None if uri is None else (uri, stored_certificate(store, name))


def load_signing_key(value: str, password: str | None = None,
                     store: KeyStore | None = None) -> SigningKey | RemoteSigner:
    """``--key``: a key-store name, a key file (PEM, PKCS#12, JWK), a ``pkcs11:`` URI or a
    KMS key (``aws-kms:ID`` or its ARN)."""
    from ..jose.keys import SigningKey
    from ..jose.keystore import default_key_store, looks_like_key_file
    from ..signers import is_signer_reference, signer_from_reference
    with handled():
        if is_signer_reference(value):
            return signer_from_reference(value, pin=password)
        on_token = _token_reference(store or default_key_store(), value)
        if on_token is not None:
            return signer_from_reference(on_token[0], pin=password, certificate=on_token[1])
        if looks_like_key_file(value) or Path(value).is_file():
            return SigningKey.from_file(Path(value).expanduser(), password=password)
        return (store or default_key_store()).get(value)
    raise AssertionError("unreachable")  # pragma: no cover


def _jwks(source: str, allow_insecure_http: bool) -> list[VerifyingKey]:
    """The keys of a JWK Set in a file or at an http(s) URL (fetched with the client's GET,
    under its transport rules: https, or http only to loopback; bounded in time and size)."""
    from ..jose.keys import load_jwks
    if source.startswith(("https://", "http://")):
        from ..client import fetch
        from ..errors import ResponseFormatError
        fetched = fetch(source, http=None, timeout=10.0,
                        allow_insecure_http=allow_insecure_http, what="JWKS")
        if fetched.status != 200:
            raise ResponseFormatError(f"the JWKS at {source} answered HTTP {fetched.status}, "
                                      "not a JWK Set", status=fetched.status)
        return load_jwks(fetched.json_object("JWK Set"))
    path = Path(source).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    return load_jwks(text)


def load_verifying_keys(*, key: str | None, cert: Path | None, jwks: str | Path | None,
                        allow_insecure_http: bool = False) -> list[VerifyingKey] | None:
    """The keys to verify a signature with, from --key, --cert or --jwks (a file or a URL):
    the one loader of ``inspect`` and ``verify``."""
    from ..jose.keys import VerifyingKey
    given = [x for x in (key, cert, jwks) if x is not None]
    if not given:
        return None
    if len(given) > 1:
        fail("give one of --key, --cert, --jwks")
    with handled():
        if key is not None:
            return [load_signing_key(key).verifying_key()]
        if cert is not None:
            return [VerifyingKey.from_file(cert)]
        assert jwks is not None
        keys = _jwks(str(jwks), allow_insecure_http)
        if not keys:
            fail(f"{jwks} holds no signing key")
        return keys
    raise AssertionError("unreachable")  # pragma: no cover


def when(epoch: float) -> str:
    """An epoch time as ``YYYY-MM-DD HH:MM:SS UTC``."""
    try:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "out of range"


def relative(epoch: float, now: float) -> str:
    """``in 4 min 59 s`` or ``3 s ago``."""
    from ..diagnose import duration
    delta = epoch - now
    return f"in {duration(delta)}" if delta >= 0 else f"{duration(delta)} ago"
