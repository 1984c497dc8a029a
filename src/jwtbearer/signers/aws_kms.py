"""Sign with an AWS KMS asymmetric key (``KeyUsage=SIGN_VERIFY``): extra ``aws`` (boto3).

The public key is fetched once (one ``GetPublicKey`` per signer); each signature is one
``Sign``: ``MessageType=RAW`` for messages up to 4,096 bytes (KMS's limit), else the digest
computed here and sent with ``MessageType=DIGEST``. KMS returns ECDSA signatures in DER; JWS
needs raw r||s (RFC 7518 §3.4), so they are converted. Every signature is verified against the
public key before it is used (it costs far less than the round trip), so a KMS that signs
something else (a PSS salt of the wrong length, a digest hashed twice) is an error here, not a
token the server refuses.

The endpoint and credentials come from boto3's usual configuration (``AWS_REGION``,
``AWS_ENDPOINT_URL_KMS``, profiles, instance roles), or from the ``client=`` given.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from ..errors import ConfigurationError, KeyLoadError, TransportError
from ._protocol import RemoteSigner
from .callable import der_to_raw

__all__ = ["KMS_ALGORITHMS", "MAX_RAW_MESSAGE", "AwsKmsSigner"]

#: JWS alg -> KMS SigningAlgorithm.
KMS_ALGORITHMS = {
    "RS256": "RSASSA_PKCS1_V1_5_SHA_256",
    "RS384": "RSASSA_PKCS1_V1_5_SHA_384",
    "RS512": "RSASSA_PKCS1_V1_5_SHA_512",
    "PS256": "RSASSA_PSS_SHA_256",
    "PS384": "RSASSA_PSS_SHA_384",
    "PS512": "RSASSA_PSS_SHA_512",
    "ES256": "ECDSA_SHA_256",
    "ES384": "ECDSA_SHA_384",
    "ES512": "ECDSA_SHA_512",
}
#: The longest message KMS signs with MessageType=RAW (bytes).
MAX_RAW_MESSAGE = 4096
_DEFAULT_ALG = {"ECC_NIST_P256": "ES256", "ECC_NIST_P384": "ES384", "ECC_NIST_P521": "ES512"}
_HASH = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def _default_client(region: str | None) -> Any:
    try:
        import boto3
    except ImportError:
        raise ConfigurationError(
            "AwsKmsSigner needs boto3: pip install 'jwtbearer[aws]' (or pass client=)"
        ) from None
    return boto3.client("kms", region_name=region)


def _describe(exc: Exception) -> str:
    """A short reason from a botocore error, without request details."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code, message = error.get("Code", ""), error.get("Message", "")
        return f"{code}: {message}".strip(": ")
    return f"{type(exc).__name__}: {exc}"


def _is_connection_error(exc: Exception) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                         "ConnectionClosedError", "HTTPClientError"})


class AwsKmsSigner(RemoteSigner):
    """A JWS signer whose private key stays in AWS KMS.

    ``key_id`` is a key id, key ARN, alias name (``alias/NAME``) or alias ARN. ``alg`` defaults
    to RS256 for RSA keys and ES256/ES384/ES512 for NIST P-256/P-384/P-521 keys; PS256-PS512
    and RS384/RS512 are chosen with ``alg=`` and must be among the key's signing algorithms.
    ``kid`` defaults to the public key's RFC 7638 thumbprint. ``client`` is a boto3 KMS client
    (default: ``boto3.client("kms", region_name=region)``).
    """

    __slots__ = ("_client", "_hash", "_kms_alg", "key_id")
    _verify_every = True

    def __init__(
        self,
        key_id: str,
        region: str | None = None,
        alg: str | None = None,
        client: Any = None,
        *,
        kid: str | None = None,
    ) -> None:
        if not isinstance(key_id, str) or not key_id:
            raise ConfigurationError("key_id must be a KMS key id, ARN or alias")
        self.key_id = key_id
        self._client = client if client is not None else _default_client(region)
        answer = self._call("GetPublicKey", KeyId=key_id)
        if answer.get("KeyUsage") not in (None, "SIGN_VERIFY"):
            raise KeyLoadError(
                f"KMS key {key_id!r} has KeyUsage {answer.get('KeyUsage')}; signing JWTs needs "
                "an asymmetric SIGN_VERIFY key"
            )
        try:
            public = load_der_public_key(answer["PublicKey"])
        except (KeyError, ValueError, TypeError):
            raise KeyLoadError(f"KMS returned no usable public key for {key_id!r}") from None
        if not isinstance(public, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
            raise KeyLoadError(f"KMS key {key_id!r} is neither RSA nor EC")
        spec = str(answer.get("KeySpec") or answer.get("CustomerMasterKeySpec") or "")
        alg = alg or (_DEFAULT_ALG.get(spec) if isinstance(public, ec.EllipticCurvePublicKey)
                      else "RS256")
        if alg not in KMS_ALGORITHMS:
            raise KeyLoadError(f"KMS key {key_id!r} ({spec or 'unknown spec'}) cannot sign "
                               f"{alg!r}; JWS algorithms: {', '.join(KMS_ALGORITHMS)}")
        offered = answer.get("SigningAlgorithms")
        if offered is not None and KMS_ALGORITHMS[alg] not in offered:
            raise KeyLoadError(
                f"KMS key {key_id!r} does not sign {alg} ({KMS_ALGORITHMS[alg]}); it offers "
                f"{', '.join(offered) or 'nothing'}"
            )
        self._kms_alg = KMS_ALGORITHMS[alg]
        self._hash = _HASH[alg[2:]]
        self._setup(public, alg, kid)

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        method = getattr(self._client, "get_public_key" if operation == "GetPublicKey"
                         else "sign")
        try:
            answer: dict[str, Any] = method(**arguments)
        except Exception as exc:
            if _is_connection_error(exc):
                raise TransportError(
                    f"cannot reach AWS KMS for key {self.key_id!r}: {_describe(exc)}"
                ) from None
            if type(exc).__name__ in ("NoCredentialsError", "NoRegionError",
                                      "PartialCredentialsError"):
                raise ConfigurationError(
                    f"AWS KMS: {exc} (configure boto3: AWS_REGION, credentials, or client=)"
                ) from None
            if hasattr(exc, "response"):
                raise KeyLoadError(
                    f"AWS KMS {operation} for key {self.key_id!r} failed: {_describe(exc)}"
                ) from None
            raise
        return answer

    def _signature(self, data: bytes) -> bytes:
        """One KMS ``Sign`` call: RAW up to 4,096 bytes, else the digest as DIGEST."""
        data = bytes(data)
        if len(data) <= MAX_RAW_MESSAGE:
            message, kind = data, "RAW"
        else:
            message, kind = self._hash(data).digest(), "DIGEST"
        answer = self._call("Sign", KeyId=self.key_id, Message=message, MessageType=kind,
                            SigningAlgorithm=self._kms_alg)
        signature = answer.get("Signature")
        if not isinstance(signature, (bytes, bytearray)):
            raise KeyLoadError(f"AWS KMS returned no signature for key {self.key_id!r}")
        if self.alg.startswith("ES"):
            return der_to_raw(bytes(signature), self.alg)
        return bytes(signature)

    def __repr__(self) -> str:
        return f"AwsKmsSigner(key_id={self.key_id!r}, alg={self.alg!r}, kid={self.kid!r})"

    __str__ = __repr__
