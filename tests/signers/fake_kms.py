"""A small KMS on loopback that signs as AWS documents it, unlike stock moto.

AWS KMS ``Sign``: ``MessageType=RAW`` messages are at most 4,096 bytes (longer is a
ValidationException); ``MessageType=DIGEST`` signs the digest given, which must be as long as the
algorithm's hash; RSASSA-PSS uses a salt as long as the hash; ECDSA signatures are DER. Speaks
the AWS JSON 1.1 protocol that boto3 uses (``X-Amz-Target: TrentService.<Operation>``), and
counts the calls per operation. Credentials are not checked.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_RSA_ALGS = [f"RSASSA_{kind}_SHA_{n}" for kind in ("PSS", "PKCS1_V1_5") for n in _HASHES]


class FakeKms:
    """``create_key(spec)`` makes a key; ``url`` is the endpoint; ``calls`` counts operations."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[Any, str]] = {}
        self.calls: Counter[str] = Counter()
        self.messages: list[tuple[str, int]] = []  # (MessageType, length) per Sign
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                status, answer = fake.handle(operation, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeKms:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def create_key(self, spec: str) -> str:
        if spec.startswith("RSA_"):
            key: Any = rsa.generate_private_key(65537, int(spec[4:]))
        else:
            curve = {"ECC_NIST_P256": ec.SECP256R1(), "ECC_NIST_P384": ec.SECP384R1(),
                     "ECC_NIST_P521": ec.SECP521R1()}[spec]
            key = ec.generate_private_key(curve)
        key_id = str(uuid.uuid4())
        self.keys[key_id] = (key, spec)
        return key_id

    def _algorithms(self, spec: str) -> list[str]:
        if spec.startswith("RSA_"):
            return _RSA_ALGS
        return [{"ECC_NIST_P256": "ECDSA_SHA_256", "ECC_NIST_P384": "ECDSA_SHA_384",
                 "ECC_NIST_P521": "ECDSA_SHA_512"}[spec]]

    def handle(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls[operation] += 1
        entry = self.keys.get(body.get("KeyId", ""))
        if entry is None:
            return 400, {"__type": "NotFoundException", "message": "Key does not exist"}
        key, spec = entry
        if operation == "GetPublicKey":
            der = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            return 200, {"KeyId": body["KeyId"], "PublicKey": base64.b64encode(der).decode(),
                         "KeySpec": spec, "KeyUsage": "SIGN_VERIFY",
                         "SigningAlgorithms": self._algorithms(spec)}
        if operation != "Sign":
            return 400, {"__type": "UnsupportedOperationException", "message": operation}
        algorithm = body.get("SigningAlgorithm", "")
        if algorithm not in self._algorithms(spec):
            return 400, {"__type": "InvalidKeyUsageException", "message": algorithm}
        message = base64.b64decode(body["Message"])
        kind = body.get("MessageType", "RAW")
        self.messages.append((kind, len(message)))
        hash_ = _HASHES[algorithm[-3:]]()
        if kind == "RAW" and len(message) > 4096:
            return 400, {"__type": "ValidationException",
                         "message": "Message must have length less than or equal to 4096"}
        if kind == "DIGEST":
            if len(message) != hash_.digest_size:
                return 400, {"__type": "ValidationException", "message": "Digest is invalid"}
            chosen: Any = utils.Prehashed(hash_)
        else:
            chosen = hash_
        if algorithm.startswith("ECDSA"):
            signature = key.sign(message, ec.ECDSA(chosen))
        else:
            pad = (padding.PSS(padding.MGF1(hash_), hash_.digest_size)
                   if "PSS" in algorithm else padding.PKCS1v15())
            signature = key.sign(message, pad, chosen)
        return 200, {"KeyId": body["KeyId"], "SigningAlgorithm": algorithm,
                     "Signature": base64.b64encode(signature).decode()}
