"""Signers named by one string, for the command line and the profiles file.

- ``pkcs11:token=TOKEN;object=LABEL?module-path=/path/to/module.so`` (RFC 7512), PIN from
  ``pin-value=`` / ``pin-source=file:PATH`` in the URI, else the ``pin`` given (a profile's
  ``key_password``), else ``$JWTBEARER_PKCS11_PIN``; ``alg=PS256`` in the query picks PS256.
- ``aws-kms:KEY_ID_OR_ALIAS?region=REGION&alg=PS256`` or a KMS key ARN
  ``arn:aws:kms:REGION:ACCOUNT:key/ID`` (region taken from the ARN).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from cryptography import x509

from ..errors import ConfigurationError, KeyLoadError
from ._protocol import RemoteSigner

__all__ = ["PIN_VARIABLE", "is_signer_reference", "signer_from_reference"]

#: Environment variable holding the PKCS#11 user PIN when the reference gives none.
PIN_VARIABLE = "JWTBEARER_PKCS11_PIN"
_PREFIXES = ("pkcs11:", "aws-kms:", "arn:aws:kms:")


def is_signer_reference(value: str) -> bool:
    """True when ``value`` names a PKCS#11 or KMS key rather than a key file or store name."""
    return value.startswith(_PREFIXES)


def _query(text: str, where: str) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, separator="&"):
        if name in query:
            raise ConfigurationError(f"{where}: {name!r} is given twice")
        query[name] = value
    return query


def _pkcs11(reference: str, pin: str | None, certificate: x509.Certificate | None
            ) -> RemoteSigner:
    path, _, query_text = reference[len("pkcs11:"):].partition("?")
    attributes: dict[str, str] = {}
    for part in filter(None, path.split(";")):
        name, sep, value = part.partition("=")
        if not sep:
            raise ConfigurationError(f"PKCS#11 URI attribute {name!r} has no value (RFC 7512)")
        attributes[name] = unquote(value)
    query = {k: unquote(v) for k, v in _query(query_text, "PKCS#11 URI").items()}
    missing = [n for n, d in (("token", attributes), ("object", attributes),
                              ("module-path", query)) if not d.get(n)]
    if missing:
        raise ConfigurationError(
            f"the PKCS#11 URI needs {', '.join(missing)}: pkcs11:token=TOKEN;object=LABEL"
            "?module-path=/usr/lib/softhsm/libsofthsm2.so"
        )
    if "pin-value" in query:
        pin = query["pin-value"]
    elif "pin-source" in query:
        source = query["pin-source"].removeprefix("file:")
        try:
            pin = Path(source).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise KeyLoadError(f"cannot read the PIN file {source}: {exc.strerror}") from None
    elif pin is None:
        pin = os.environ.get(PIN_VARIABLE)
        if not pin:
            raise ConfigurationError(
                f"no PIN for PKCS#11 token {attributes['token']!r}: set ${PIN_VARIABLE}, or "
                "give pin-source=file:PATH in the URI"
            )
    from .pkcs11 import Pkcs11Signer

    return Pkcs11Signer(query["module-path"], attributes["token"], attributes["object"],
                        pin=pin, alg=query.get("alg") or None, certificate=certificate)


def _aws(reference: str) -> RemoteSigner:
    if reference.startswith("arn:"):
        key_id, _, query_text = reference.partition("?")
        region: str | None = key_id.split(":")[3] or None
    else:
        key_id, _, query_text = reference[len("aws-kms:"):].partition("?")
        region = None
    query = _query(query_text, "KMS key reference")
    if not key_id:
        raise ConfigurationError("aws-kms: needs a key id, alias or ARN: aws-kms:alias/NAME")
    from .aws_kms import AwsKmsSigner

    return AwsKmsSigner(key_id, region=query.get("region") or region, alg=query.get("alg"))


def signer_from_reference(
    reference: str, *, pin: str | None = None, certificate: x509.Certificate | None = None
) -> RemoteSigner:
    """The signer a ``pkcs11:`` URI, an ``aws-kms:`` reference or a KMS key ARN names
    (``certificate``: the PKCS#11 key's own, for ``x5t#S256``)."""
    if reference.startswith("pkcs11:"):
        return _pkcs11(reference, pin, certificate)
    if reference.startswith(("aws-kms:", "arn:aws:kms:")):
        return _aws(reference)
    raise ConfigurationError(
        f"{reference[:40]!r} is not a signer reference (pkcs11:..., aws-kms:... or a KMS ARN)"
    )
