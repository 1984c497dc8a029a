"""Metadata and JWKS fetches verify TLS like token requests (a real TLS server on loopback)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from test_transport import RawServer, _http, _respond, _self_signed

import jwtbearer as jb
from jwtbearer.client import discovery
from jwtbearer.validation import JWKSCache


def test_untrusted_certificates_are_refused_for_metadata_and_jwks(tmp_path: Path) -> None:
    discovery._cache.clear()
    body = _http("200 OK", {"Content-Type": "application/json"}, b'{"keys": []}')
    with RawServer(_respond(body), tls=_self_signed(tmp_path)) as server:
        base = f"https://127.0.0.1:{server.port}"
        with pytest.raises(jb.TransportError, match="certificate"):
            jb.discover(base)
        with pytest.raises(jb.TransportError, match="certificate"):
            JWKSCache(f"{base}/jwks").keys_for("k")

        async def main() -> None:
            with pytest.raises(jb.TransportError, match=r"(?i)certificate"):
                await jb.adiscover(base)

        anyio.run(main)
