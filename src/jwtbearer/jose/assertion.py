"""JWT claims and their signature: Apex ``Auth.JWT`` and ``Auth.JWS`` in Python.

Claims are NumericDate integers in seconds (RFC 7519 §2), never milliseconds; every signing gets
a fresh ``jti`` (RFC 7519 §4.1.7), so a server's replay cache never refuses a new assertion.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError, JWSError
from ..oauth import MS_THRESHOLD as _MS_THRESHOLD
from ..token import Clock, system_clock
from .jws import b64url_decode, parse_json_object, sign_compact
from .keys import SigningKey
from .keystore import resolve_key
from .signer import Signer

__all__ = ["JWS", "JWT", "REGISTERED_CLAIMS", "make_assertion", "new_jti"]

#: Claims that JWT sets itself (RFC 7519 §4.1); additional_claims may not name them.
REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})

DEFAULT_VALIDITY = 300



def new_jti() -> str:
    """A fresh, unguessable JWT ID (128 random bits, base64url): the ``jti`` claim
    (RFC 7519 §4.1.7) a server remembers to refuse replays (RFC 7523 §3, item 7)."""
    return secrets.token_urlsafe(16)


def _refuse_registered(claims: Mapping[str, Any]) -> None:
    clash = sorted(REGISTERED_CLAIMS.intersection(claims))
    if clash:
        raise ConfigurationError(
            f"additional_claims may not set registered claim(s) {', '.join(clash)}: use the "
            "JWT attributes (iss, sub, aud, validity_length, nbf_clock_skew) instead"
        )


def _check_additional(claims: Mapping[str, Any] | None) -> dict[str, Any]:
    if claims is None:
        return {}
    if not isinstance(claims, Mapping):
        raise ConfigurationError("additional_claims must be a mapping of claim name to value")
    if not all(isinstance(name, str) for name in claims):
        raise ConfigurationError("additional_claims names must be strings (RFC 7519 §4)")
    _refuse_registered(claims)
    try:
        json.dumps(dict(claims))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"additional_claims must be JSON values: {exc}") from None
    return dict(claims)


def make_assertion(
    *,
    key: SigningKey | Signer,
    iss: str | None,
    sub: str | None,
    aud: str | Sequence[str] | None,
    lifetime: int = DEFAULT_VALIDITY,
    now: float,
    nbf_skew: int | None = None,
    extra_claims: Mapping[str, Any] | None = None,
    jti: str | None = None,
    x5t_s256: bool = False,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign a fresh JWT assertion: ``iat = now``, ``exp = now + lifetime``, a new ``jti``.

    ``nbf_skew`` adds ``nbf = now - nbf_skew``. Times are whole seconds (RFC 7519 §2
    NumericDate); a ``now`` in milliseconds is refused.
    """
    claims = _claims(iss, sub, aud, lifetime, now, nbf_skew, extra_claims, jti)
    return sign_compact(claims, key, headers=headers, x5t_s256=x5t_s256)


def _claims(
    iss: str | None,
    sub: str | None,
    aud: str | Sequence[str] | None,
    lifetime: int,
    now: float,
    nbf_skew: int | None,
    extra: Mapping[str, Any] | None,
    jti: str | None,
) -> dict[str, Any]:
    if isinstance(now, bool) or not isinstance(now, (int, float)) or now < 0:
        raise ConfigurationError(f"the clock must return epoch seconds, not {now!r}")
    if now >= _MS_THRESHOLD:
        raise ConfigurationError(
            f"the clock returned {now!r}, which is milliseconds: a JWT NumericDate is seconds "
            "since the epoch (RFC 7519 §2); pass a clock like time.time"
        )
    issued = int(now)
    claims: dict[str, Any] = {}
    if iss is not None:
        claims["iss"] = iss
    if sub is not None:
        claims["sub"] = sub
    if aud is not None:
        claims["aud"] = aud if isinstance(aud, str) else list(aud)
    claims["iat"] = issued
    claims["exp"] = issued + int(lifetime)
    if nbf_skew is not None:
        claims["nbf"] = issued - int(nbf_skew)
    claims["jti"] = jti or new_jti()
    if extra:
        # Checked again here: the dict behind additional_claims may have been changed in place.
        _refuse_registered(extra)
        claims.update(extra)
    return claims


class JWT:
    """The claims of a JWT assertion (Apex ``Auth.JWT``), signed by :class:`JWS`.

    ``iss``, ``sub`` and ``aud`` are the claims of RFC 7523 §3 (items 1-3): for the JWT bearer
    grant ``iss`` is the client id and ``sub`` the user; ``aud`` is a string or a list.

    ``validity_length`` (seconds, default 300) becomes ``exp = now + validity_length``;
    ``nbf_clock_skew`` (seconds) adds ``nbf = now - nbf_clock_skew``; ``additional_claims`` adds
    any non-registered claims. ``iat``, ``exp``, ``nbf`` and ``jti`` are computed at each signing.
    """

    def __init__(
        self,
        iss: str | None = None,
        sub: str | None = None,
        aud: str | Sequence[str] | None = None,
        *,
        validity_length: int = DEFAULT_VALIDITY,
        nbf_clock_skew: int | None = None,
        additional_claims: Mapping[str, Any] | None = None,
    ) -> None:
        self.iss = iss
        self.sub = sub
        self.aud = aud
        self.validity_length = validity_length
        self.nbf_clock_skew = nbf_clock_skew
        self.additional_claims = additional_claims

    @property
    def validity_length(self) -> int:
        """Seconds from issue to ``exp`` (Apex ``validityLength``); default 300."""
        return self._validity_length

    @validity_length.setter
    def validity_length(self, seconds: int) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
            raise ConfigurationError(
                f"validity_length is a whole number of seconds above 0, not {seconds!r}"
            )
        if seconds > 10**8:
            raise ConfigurationError(
                f"validity_length {seconds} is absurd: it is in seconds (not milliseconds); "
                "servers accept a few minutes (Salesforce: at most 3 minutes past now)"
            )
        self._validity_length = seconds

    @property
    def nbf_clock_skew(self) -> int | None:
        """Seconds to backdate ``nbf`` for a server clock running behind (Apex ``nbfClockSkew``)."""
        return self._nbf_clock_skew

    @nbf_clock_skew.setter
    def nbf_clock_skew(self, seconds: int | None) -> None:
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0
        ):
            raise ConfigurationError(f"nbf_clock_skew is whole seconds >= 0, not {seconds!r}")
        self._nbf_clock_skew = seconds

    @property
    def additional_claims(self) -> dict[str, Any]:
        """Extra claims (Apex ``additionalClaims``); a registered claim name is a ValueError."""
        return self._additional_claims

    @additional_claims.setter
    def additional_claims(self, claims: Mapping[str, Any] | None) -> None:
        self._additional_claims = _check_additional(claims)

    def claims(self, *, now: float, jti: str | None = None) -> dict[str, Any]:
        """The claim set as signed at ``now``, with a fresh ``jti`` unless one is given."""
        return _claims(
            self.iss,
            self.sub,
            self.aud,
            self.validity_length,
            now,
            self.nbf_clock_skew,
            self._additional_claims,
            jti,
        )

    def to_json(self, *, now: float | None = None) -> str:
        """The claims as JSON (Apex ``toJSONString``), computed at ``now`` (default: the time)."""
        return json.dumps(self.claims(now=system_clock() if now is None else now))

    def clone(self) -> JWT:
        """An independent copy (Apex ``clone``): changing one never changes the other."""
        return JWT(
            self.iss,
            self.sub,
            self.aud if isinstance(self.aud, (str, type(None))) else list(self.aud),
            validity_length=self.validity_length,
            nbf_clock_skew=self.nbf_clock_skew,
            additional_claims=copy.deepcopy(self._additional_claims),
        )

    def __repr__(self) -> str:
        return (
            f"JWT(iss={self.iss!r}, sub={self.sub!r}, aud={self.aud!r}, "
            f"validity_length={self.validity_length})"
        )


_TIME_CLAIMS = ("exp", "nbf", "iat")


def _check_payload(payload: str) -> str:
    """The JSON claims text of a payload string, given as JSON or as base64url-encoded JSON.

    Apex documents the string as the "Base64-encoded JSON Claims Set" while most code passes the
    JSON itself; both are taken. The JSON is signed exactly as written.
    """
    text = payload
    try:
        claims = parse_json_object(payload.encode("utf-8"), "JWS payload")
    except JWSError as as_json:
        try:
            text = b64url_decode(payload.strip()).decode("utf-8")
            claims = parse_json_object(text.encode("utf-8"), "JWS payload")
        except (JWSError, UnicodeDecodeError):
            raise ConfigurationError(
                f"{as_json}; the payload must be a JSON object of claims (or that JSON "
                "base64url-encoded)"
            ) from None
    for name in _TIME_CLAIMS:
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(
                f"claim {name!r} must be a number of seconds since the epoch (RFC 7519 §2), "
                f"not {value!r}"
            )
        if value >= _MS_THRESHOLD:
            raise ConfigurationError(
                f"claim {name!r} is {value!r}, which is milliseconds: a JWT NumericDate is "
                "seconds since the epoch (RFC 7519 §2); divide by 1000"
            )
    return text


class JWS:
    """A signed JWT (Apex ``Auth.JWS``): ``JWS(jwt, key)`` or ``JWS(payload_json, key)``.

    ``key`` is a :class:`SigningKey` or the name of a key in the default :class:`KeyStore` (the
    Apex "certificate unique name"). The compact serialization (RFC 7515 §7.1) is made once, on
    first use, with ``iat``/``exp``/``jti`` taken at that moment, and the same string is returned
    after that. A new ``JWS`` (or :meth:`clone`) signs again with a fresh ``jti``, so two JWS of
    one JWT never share a ``jti`` (RFC 7519 §4.1.7). ``x5t_s256=True`` adds the key
    certificate's ``x5t#S256`` header (RFC 7515 §4.1.8), which some servers use to pick the key.
    """

    def __init__(
        self,
        payload: JWT | str,
        key: SigningKey | Signer | str,
        *,
        x5t_s256: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if isinstance(payload, JWT):
            self.payload: JWT | str = payload
        elif isinstance(payload, str):
            self.payload = _check_payload(payload)
        else:
            raise ConfigurationError("JWS payload must be a JWT or a JSON string of claims")
        self.key = resolve_key(key)
        if x5t_s256 and self.key.x5t_s256 is None:
            raise ConfigurationError(
                "x5t_s256=True needs a key with a certificate: load the key with its "
                "certificate (PKCS#12, or a PEM holding both) or use a key-store name"
            )
        self.x5t_s256 = x5t_s256
        self._clock = clock or system_clock
        self._compact: str | None = None

    @property
    def jwt(self) -> JWT | None:
        """The JWT this JWS signs, or None when it signs a JSON string."""
        return self.payload if isinstance(self.payload, JWT) else None

    def compact_serialization(self) -> str:
        """The compact JWS (Apex ``getCompactSerialization``), signed once and then reused."""
        if self._compact is None:
            if isinstance(self.payload, JWT):
                body: Mapping[str, Any] | str = self.payload.claims(now=self._clock())
            else:
                body = self.payload
            self._compact = sign_compact(body, self.key, x5t_s256=self.x5t_s256)
        return self._compact

    @property
    def signed(self) -> bool:
        """True once :meth:`compact_serialization` has signed."""
        return self._compact is not None

    def clone(self) -> JWS:
        """A copy not yet signed (Apex ``clone``): it signs anew, with a fresh ``jti``.

        The JWT is cloned too, so changing the copy's claims leaves this one alone.
        """
        payload = self.payload.clone() if isinstance(self.payload, JWT) else self.payload
        return JWS(payload, self.key, x5t_s256=self.x5t_s256, clock=self._clock)

    def __repr__(self) -> str:
        signed = "signed" if self._compact is not None else "unsigned"
        return f"JWS({self.payload!r}, key={self.key!r}, {signed})"
