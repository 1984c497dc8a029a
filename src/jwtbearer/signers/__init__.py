"""Signers whose private key stays where it is: a PKCS#11 token, AWS KMS, or any function.

Every API that takes a key (``JWS``, ``PrivateKeyJWT``, ``JWTBearer``, profiles, the CLI)
takes a :class:`~jwtbearer.jose.signer.Signer`: an in-memory
:class:`~jwtbearer.jose.keys.SigningKey` or one of these. ``Pkcs11Signer`` (extra ``pkcs11``)
and ``AwsKmsSigner`` (extra ``aws``) are imported when first used, so ``import jwtbearer``
never loads python-pkcs11 or boto3.

Layer: imports the root modules and ``jose``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy

if TYPE_CHECKING:
    from ..jose.signer import Signer
    from ._protocol import RemoteSigner, as_signer
    from ._uri import PIN_VARIABLE, is_signer_reference, signer_from_reference
    from .aws_kms import AwsKmsSigner
    from .callable import CallableSigner, der_to_raw, raw_to_der
    from .pkcs11 import Pkcs11Signer

__all__ = [
    "PIN_VARIABLE",
    "AwsKmsSigner",
    "CallableSigner",
    "Pkcs11Signer",
    "RemoteSigner",
    "Signer",
    "as_signer",
    "der_to_raw",
    "is_signer_reference",
    "raw_to_der",
    "signer_from_reference",
]

__getattr__, __dir__ = lazy(__name__, {
    "Signer": "..jose.signer",
    **dict.fromkeys(("RemoteSigner", "as_signer"), "._protocol"),
    **dict.fromkeys(("PIN_VARIABLE", "is_signer_reference", "signer_from_reference"), "._uri"),
    **dict.fromkeys(("CallableSigner", "der_to_raw", "raw_to_der"), ".callable"),
    "Pkcs11Signer": ".pkcs11",
    "AwsKmsSigner": ".aws_kms",
}, globals())
