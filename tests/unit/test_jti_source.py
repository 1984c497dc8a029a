"""new_jti: 128 random bits each, never handed out twice: not across threads, not to a forked
child and its parent."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from jwtbearer.jose.assertion import new_jti
from jwtbearer.jose.jws import b64url_decode


def test_each_jti_is_16_random_bytes_and_unique_across_threads() -> None:
    seen: list[str] = []

    def mint() -> None:
        seen.extend(new_jti() for _ in range(2000))

    threads = [threading.Thread(target=mint) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == len(set(seen)) == 8000
    assert all(len(b64url_decode(j)) == 16 for j in seen[:100])


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="POSIX fork")
def test_a_forked_child_never_repeats_its_parents_jtis() -> None:
    new_jti()  # the page is drawn before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next jtis, then leave at once
        os.write(write, " ".join(new_jti() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child = set(os.read(read, 65536).decode().split())
    os.close(read)
    assert status == 0 and len(child) == 50
    assert not child & {new_jti() for _ in range(50)}
