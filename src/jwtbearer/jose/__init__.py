"""JOSE: keys (PEM, PKCS#12, JWK, secrets), compact JWS over ``cryptography``, the key store,
the Apex ``Auth.JWT`` / ``Auth.JWS`` assertion builders, and the ``Signer`` protocol any key
(in memory, on a token, in a KMS) follows.

Layer: imports only the root modules (``errors``, ``token``, ``oauth``, ``_util``); the client,
the server and the diagnostics all build on it.
"""

from __future__ import annotations

from .assertion import JWS, JWT, REGISTERED_CLAIMS, make_assertion, new_jti
from .jws import (
    MAX_TOKEN_LENGTH,
    VerifiedJWS,
    sign_compact,
    unverified_claims,
    unverified_header,
    verify_compact,
)
from .keys import ALGORITHMS, SigningKey, VerifyingKey, load_jwks
from .keystore import KeyStore, default_key_store
from .signer import Signer

__all__ = [
    "ALGORITHMS",
    "JWS",
    "JWT",
    "MAX_TOKEN_LENGTH",
    "REGISTERED_CLAIMS",
    "KeyStore",
    "Signer",
    "SigningKey",
    "VerifiedJWS",
    "VerifyingKey",
    "default_key_store",
    "load_jwks",
    "make_assertion",
    "new_jti",
    "sign_compact",
    "unverified_claims",
    "unverified_header",
    "verify_compact",
]
