"""Client assertions handed over by the platform: no key at all (workload identity federation).

Kubernetes projects a service-account token into a file, Entra ID workload identity names it in
``AZURE_FEDERATED_TOKEN_FILE``, GitHub Actions serves an OIDC token to the job. Each is a JWT
issued by the platform that the token endpoint trusts; it is sent as the ``client_assertion``
(RFC 7523 §2.2, RFC 7521 §4.2) in place of one signed by a key of the client's own.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

from ..errors import (
    ConfigurationError,
    JWSError,
    KeyLoadError,
    ResponseFormatError,
    TransportError,
    redact,
)
from ..jose.jws import unverified_claims
from ..oauth import CLIENT_ASSERTION_TYPE
from .transport import check_endpoint, check_timeout, default_transports

__all__ = ["ClientAssertionFile", "GitHubActionsOIDC"]

Fields = tuple[dict[str, str], dict[str, str]]
_MAX_TOKEN_BYTES = 64 * 1024


def _checked(token: str, source: str, now: float) -> str:
    """The assertion if it is a compact JWS that has not expired; else a KeyLoadError."""
    try:
        claims = unverified_claims(token)
    except JWSError as exc:
        raise KeyLoadError(f"{source} does not hold a JWT: {exc}") from None
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool) and now >= exp:
        raise KeyLoadError(
            f"the JWT from {source} expired {int(now - exp)} s ago (exp {int(exp)}); the "
            "platform should have replaced it: check that the token is still projected/renewed"
        )
    return token


def _fields(assertion: str, client_id: str | None) -> Fields:
    form = {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion}
    if client_id:
        form["client_id"] = client_id
    return {}, form


class ClientAssertionFile:
    """Client authentication with a JWT the platform keeps in a file (RFC 7523 §2.2).

    The file is read again whenever its mtime, inode, device or size changes, which covers
    Kubernetes' rotation of projected tokens through an atomic ``..data`` symlink swap; while it
    is unchanged, one ``stat`` per request is all it costs. An expired JWT raises
    :class:`~jwtbearer.errors.KeyLoadError` saying so, and nothing is sent. ``client_id`` is
    sent as a form field when given (Entra ID needs it).
    """

    __slots__ = ("_cached", "_lock", "_path", "_stamp", "client_id")

    def __init__(self, path: str | os.PathLike[str], client_id: str | None = None) -> None:
        if client_id is not None and (not isinstance(client_id, str) or not client_id):
            raise ConfigurationError("client_id must be a non-empty string or None")
        self._path = Path(path)
        self.client_id = client_id
        self._stamp: tuple[int, int, int, int] | None = None
        self._cached = ""
        self._lock = threading.Lock()

    @classmethod
    def from_env(
        cls,
        *,
        token_file_variable: str = "AZURE_FEDERATED_TOKEN_FILE",
        client_id_variable: str | None = "AZURE_CLIENT_ID",
    ) -> ClientAssertionFile:
        """From the environment Entra ID workload identity sets: ``$AZURE_FEDERATED_TOKEN_FILE``
        and ``$AZURE_CLIENT_ID`` (other names may be given; ``client_id_variable=None`` sends
        no client id). A missing variable is a ConfigurationError naming it."""
        path = os.environ.get(token_file_variable)
        if not path:
            raise ConfigurationError(
                f"${token_file_variable} is not set: the platform's workload identity (e.g. the "
                "Azure workload identity webhook) is not enabled for this pod"
            )
        client_id = None
        if client_id_variable is not None:
            client_id = os.environ.get(client_id_variable)
            if not client_id:
                raise ConfigurationError(
                    f"${client_id_variable} is not set: it names the client (application) id"
                )
        return cls(path, client_id)

    @property
    def path(self) -> Path:
        """The token file."""
        return self._path

    def assertion(self, *, now: float) -> str:
        """The file's JWT, read again if the file changed; refused once expired."""
        try:
            st = os.stat(self._path)
        except OSError as exc:
            raise KeyLoadError(
                f"cannot read the client assertion file {self._path}: {exc.strerror or exc}"
            ) from None
        stamp = (st.st_mtime_ns, st.st_ino, st.st_dev, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._cached, self._stamp = self._read(), stamp
            token = self._cached
        return _checked(token, str(self._path), now)

    def _read(self) -> str:
        try:
            with open(self._path, "rb") as file:
                data = file.read(_MAX_TOKEN_BYTES + 1)
        except OSError as exc:
            raise KeyLoadError(
                f"cannot read the client assertion file {self._path}: {exc.strerror or exc}"
            ) from None
        if len(data) > _MAX_TOKEN_BYTES:
            raise KeyLoadError(f"{self._path} is over {_MAX_TOKEN_BYTES} bytes: not a JWT")
        text = data.decode("ascii", "replace").strip()
        if not text:
            raise KeyLoadError(f"the client assertion file {self._path} is empty")
        return text

    def apply(self, token_endpoint: str, *, now: float) -> Fields:
        """``client_assertion_type``, the file's JWT and ``client_id`` when given."""
        return _fields(self.assertion(now=now), self.client_id)

    def __repr__(self) -> str:
        return f"ClientAssertionFile({str(self._path)!r}, client_id={self.client_id!r})"


class GitHubActionsOIDC:
    """Client authentication with the GitHub Actions OIDC token of the running job.

    The token is requested from ``$ACTIONS_ID_TOKEN_REQUEST_URL`` (its query kept,
    ``audience=`` added) with ``Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN``, once
    per token request, so each assertion is fresh. The job needs ``permissions: id-token:
    write``. ``audience`` is what the token endpoint expects (Entra ID:
    ``api://AzureADTokenExchange``); ``client_id`` is sent when given.
    """

    __slots__ = ("audience", "client_id", "timeout")

    def __init__(
        self, *, audience: str, client_id: str | None = None, timeout: float = 10.0
    ) -> None:
        if not isinstance(audience, str) or not audience:
            raise ConfigurationError("audience must be a non-empty string")
        if client_id is not None and (not isinstance(client_id, str) or not client_id):
            raise ConfigurationError("client_id must be a non-empty string or None")
        self.audience, self.client_id = audience, client_id
        self.timeout = check_timeout(timeout)

    def _request(self) -> tuple[str, str]:
        values = []
        for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
            value = os.environ.get(name)
            if not value:
                raise ConfigurationError(
                    f"${name} is not set: this is not a GitHub Actions job, or the workflow "
                    "lacks `permissions: id-token: write`"
                )
            values.append(value)
        url, token = values
        try:
            check_endpoint(url, allow_insecure_http=False)
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"$ACTIONS_ID_TOKEN_REQUEST_URL must be an https:// URL: {exc}"
            ) from None
        parts = urlsplit(url)
        separator = "&" if parts.query else ("" if url.endswith("?") else "?")
        return f"{url}{separator}audience={quote(self.audience, safe='')}", token

    def assertion(self, *, now: float) -> str:
        """A fresh OIDC token of this job for ``audience``."""
        url, token = self._request()
        try:
            with httpx.Client(transport=default_transports()[0], timeout=self.timeout,
                              follow_redirects=False) as http:
                response = http.get(url, headers={"Authorization": f"bearer {token}",
                                                  "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise TransportError(
                f"cannot fetch the GitHub Actions OIDC token: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise KeyLoadError(
                f"the GitHub Actions OIDC token request answered {response.status_code}: "
                f"{redact(response.text[:2000], (token,))[:200]!r}; check "
                "`permissions: id-token: write`"
            )
        try:
            value = response.json().get("value")
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str) or not value:
            raise ResponseFormatError(
                "the GitHub Actions OIDC token answer has no \"value\" string",
                status=response.status_code,
            )
        return _checked(value, "the GitHub Actions OIDC token", now)

    def apply(self, token_endpoint: str, *, now: float) -> Fields:
        """``client_assertion_type``, the job's OIDC token and ``client_id`` when given."""
        return _fields(self.assertion(now=now), self.client_id)

    def __repr__(self) -> str:
        return f"GitHubActionsOIDC(audience={self.audience!r}, client_id={self.client_id!r})"


#: The forms of a profile's ``client_assertion``.
CLIENT_ASSERTION_SOURCES = ('"file:PATH"', '"azure"', '"github-actions[:AUDIENCE]"')


def check_client_assertion(where: str, reference: str, auth: str) -> None:
    """Refuse a profile ``client_assertion`` that is none of the known forms, or that comes
    with a client_auth other than the one it is (private_key_jwt, or none to imply it)."""
    known = reference in ("azure", "github-actions") or (
        reference.startswith(("file:", "github-actions:")) and not reference.endswith(":")
    )
    if not known:
        raise ConfigurationError(
            f"{where}: client_assertion must be {', '.join(CLIENT_ASSERTION_SOURCES)}, not "
            f"{reference[:40]!r}"
        )
    if auth not in ("none", "private_key_jwt"):
        raise ConfigurationError(
            f"{where}: client_assertion is a client authentication of its own: drop "
            f"client_auth {auth}"
        )


def workload_auth(
    reference: str, *, client_id: str | None, token_url: str, base_dir: Path | None
) -> ClientAssertionFile | GitHubActionsOIDC:
    """The client authentication a profile's ``client_assertion`` names."""
    if reference == "azure":
        auth = ClientAssertionFile.from_env()
        return auth if client_id is None else ClientAssertionFile(auth.path, client_id)
    if reference == "github-actions" or reference.startswith("github-actions:"):
        audience = reference.partition(":")[2] or token_url
        return GitHubActionsOIDC(audience=audience, client_id=client_id)
    path = Path(reference[len("file:"):]).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return ClientAssertionFile(path, client_id)
