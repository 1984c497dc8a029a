"""The ``--workers`` supervisor's parts: the shared-state check, the listening sockets and the
restart budget (the running server is tested in tests/flows/test_server_scale_out.py)."""

from __future__ import annotations

import socket
import sys

import pytest

from jwtbearer.errors import ConfigurationError
from jwtbearer.server.workers import Supervisor, check_shared_state, listen_sockets


@pytest.mark.parametrize("replay", ["redis://127.0.0.1:6379/0", "rediss://r.example:6380/1",
                                    "unix:///run/redis.sock"])
def test_any_redis_store_allows_several_workers(replay: str) -> None:
    check_shared_state(replay, 4)


def test_memory_store_allows_only_one_worker() -> None:
    check_shared_state("memory", 1)
    with pytest.raises(ConfigurationError) as info:
        check_shared_state("memory", 3)
    message = str(info.value)
    assert "--workers 3" in message and "replay = 'memory'" in message
    assert 'replay = "redis://' in message and "refresh token" in message
    with pytest.raises(ConfigurationError, match="1 or more"):
        check_shared_state("redis://127.0.0.1/0", 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing")
def test_one_reuseport_socket_per_worker_on_one_port() -> None:
    socks = listen_sockets("127.0.0.1", 0, 3)
    try:
        ports = {s.getsockname()[1] for s in socks}
        assert len(socks) == 3 and len(ports) == 1
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in socks)
        # Connections are accepted on that port.
        with socket.create_connection(("127.0.0.1", ports.pop()), timeout=5):
            pass
    finally:
        for sock in socks:
            sock.close()


def test_a_port_in_use_is_refused_before_any_worker_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(OSError):
            listen_sockets("127.0.0.1", taken.getsockname()[1], 2)
    # Nor may a second supervisor join a port the first one serves (SO_REUSEPORT would let it).
    first = listen_sockets("127.0.0.1", 0, 2)
    try:
        with pytest.raises(OSError):
            listen_sockets("127.0.0.1", first[0].getsockname()[1], 2)
    finally:
        for sock in first:
            sock.close()


def test_workers_that_keep_dying_stop_the_server_after_the_restart_budget() -> None:
    def broken_app() -> None:
        raise RuntimeError("cannot build the app")

    lines: list[str] = []
    socks = listen_sockets("127.0.0.1", 0, 1)
    try:
        status = Supervisor(broken_app, socks, 1, max_restarts=3, restart_window=3600,
                            log=lines.append).run()
    finally:
        for sock in socks:
            sock.close()
    assert status == 1
    assert sum("restarted as" in line for line in lines) == 3
    assert "3 restarts in 3600 s already" in lines[-1]
