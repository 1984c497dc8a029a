"""Signers whose private key stays where it is: a PKCS#11 token, AWS KMS, or any function.

Every API that takes a key (``JWS``, ``PrivateKeyJWT``, ``JWTBearer``, profiles, the CLI)
takes a :class:`Signer`: an in-memory :class:`~jwtbearer.keys.SigningKey` or one of these.
``Pkcs11Signer`` (extra ``pkcs11``) and ``AwsKmsSigner`` (extra ``aws``) are imported when first
used, so ``import jwtbearer`` never loads python-pkcs11 or boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._protocol import RemoteSigner, Signer, as_signer
from .callable import CallableSigner, der_to_raw, raw_to_der

if TYPE_CHECKING:
    from .aws_kms import AwsKmsSigner
    from .pkcs11 import Pkcs11Signer

__all__ = [
    "AwsKmsSigner",
    "CallableSigner",
    "Pkcs11Signer",
    "RemoteSigner",
    "Signer",
    "as_signer",
    "der_to_raw",
    "raw_to_der",
]

_LAZY = {"Pkcs11Signer": ".pkcs11", "AwsKmsSigner": ".aws_kms"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
