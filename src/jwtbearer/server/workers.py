"""``jwtbearer serve --workers N``: N server processes on one port, under a small supervisor.

How the port is shared: the supervisor (the parent process) opens the listening sockets before
any worker exists, so a port that is taken is reported once, before anything forks. On Linux it
opens one socket per worker, all bound to the same address with ``SO_REUSEPORT``: the kernel
spreads new connections evenly over them, and a worker that is restarted takes over its
predecessor's socket, so connections waiting in that socket's queue are served, not reset.
Elsewhere every worker accepts on one shared socket. Workers are forked from the parent; each
builds its own app (its own Redis connections) after the fork and runs uvicorn on its socket.

Signals: SIGINT or SIGTERM to the parent sends SIGTERM to every worker (uvicorn then finishes the
requests in flight), waits up to ``stop_timeout`` seconds, kills what is left and exits. On
Linux a worker also receives SIGTERM if the parent dies without doing so.

Restarts: a worker that exits while the server is running is started again at once, at most
``max_restarts`` times within ``restart_window`` seconds; past that the workers are crashing in a
loop (a bug, or Redis refusing connections at start), and the supervisor stops them all and
exits with status 1 rather than spin.

Several processes only stay correct if what one worker remembers, all remember: the replay
cache (and with it the authorization codes and refresh tokens kept in the same store) must be
in Redis. :func:`check_shared_state` refuses anything else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ConfigurationError
from .limits import ServerLimits

__all__ = ["WORKER_HEADER", "Supervisor", "check_shared_state", "listen_failure",
           "listen_sockets", "run_workers", "with_worker_header"]

#: Response header on ``/healthz`` naming the worker process that answered (its pid): lets a
#: load balancer's probe or a test tell workers apart. It carries nothing secret.
WORKER_HEADER = "x-jwtbearer-worker"

_SHARED_SCHEMES = ("redis://", "rediss://", "unix://")


def check_shared_state(replay: str, workers: int) -> None:
    """Refuse ``workers > 1`` unless the replay store (which also holds codes and refresh
    tokens) is shared by every process, i.e. a Redis URL."""
    if workers < 1:
        raise ConfigurationError(f"--workers must be 1 or more, not {workers}")
    if workers > 1 and not replay.startswith(_SHARED_SCHEMES):
        raise ConfigurationError(
            f"--workers {workers} needs a shared replay store, and the configuration has "
            f"replay = {replay!r}: each process would keep its own memory, so an assertion jti "
            "(or an authorization code or refresh token) used at one worker would be accepted "
            'again at another. Set replay = "redis://HOST:6379/0" in the server TOML (it holds '
            "the replay cache, codes and refresh tokens), or run one worker."
        )


def listen_sockets(host: str, port: int, count: int, *, backlog: int = 1024) -> list[socket.socket]:
    """``count`` listening sockets on one ``host:port`` with ``SO_REUSEPORT`` (Linux), or one
    socket to share when the kernel does not balance ``SO_REUSEPORT`` sockets. Port 0 picks a
    free port for all of them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    reuseport = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
    if reuseport:
        # SO_REUSEPORT would let a second server of the same user join a port already served
        # (a second `serve` started by mistake would silently take half the connections): a
        # plain bind first makes a port in use an error, as it is for one process.
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = probe.getsockname()[1]
    socks: list[socket.socket] = []
    try:
        for _ in range(count if reuseport else 1):
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuseport:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.listen(backlog)
            sock.set_inheritable(True)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def with_worker_header(app: Any) -> Any:
    """``app`` with :data:`WORKER_HEADER` (this process's pid) added to ``/healthz`` answers."""
    pid = (WORKER_HEADER.encode(), str(os.getpid()).encode())

    async def tagged(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/healthz":
            await app(scope, receive, send)
            return

        async def send_tagged(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), pid]}
            await send(message)

        await app(scope, receive, send_tagged)

    return tagged


def _die_with_parent() -> None:
    """Linux: SIGTERM to this process when the parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


def _worker_main(make_app: Callable[[], Any], sock: socket.socket,
                 limits: ServerLimits | None = None) -> int:
    """Runs in the forked child: build the app, serve until told to stop."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    _die_with_parent()
    from .app import uvicorn_server

    uvicorn_server(with_worker_header(make_app()), limits=limits).run(sockets=[sock])
    return 0


class Supervisor:
    """Forks and watches the workers; see the module docstring for the policy."""

    def __init__(self, make_app: Callable[[], Any], socks: list[socket.socket], workers: int, *,
                 max_restarts: int = 10, restart_window: float = 60.0,
                 stop_timeout: float = 10.0, log: Callable[[str], None] | None = None,
                 limits: ServerLimits | None = None) -> None:
        self._limits = limits
        self._make_app = make_app
        self._socks = socks
        self._count = workers
        self._max_restarts = max_restarts
        self._window = restart_window
        self._stop_timeout = stop_timeout
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._children: dict[int, int] = {}  # pid -> worker slot
        self._restarts: deque[float] = deque()
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        """The pids of the running workers."""
        return sorted(self._children)

    def _spawn(self, slot: int) -> int:
        sock = self._socks[slot % len(self._socks)]
        # Signals wait until the child has its own handlers (else a SIGTERM right after the
        # fork would run the supervisor's handler in the child, and be lost).
        stops = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        pid = os.fork()
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
        else:  # the worker
            status = 1
            try:
                for sig in stops:
                    signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
                for other in self._socks:
                    if other is not sock:
                        other.close()
                status = _worker_main(self._make_app, sock, self._limits)
            except BaseException as exc:  # reported, then the child exits
                print(f"worker {os.getpid()} failed: {type(exc).__name__}: {exc}",
                      file=sys.stderr, flush=True)
            finally:
                os._exit(status)
        self._children[pid] = slot
        return pid

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stopping = True

    def run(self) -> int:
        """Start the workers and supervise them until a signal; returns the exit status."""
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        status = 0
        try:
            for slot in range(self._count):
                self._spawn(slot)
            self._log(f"{self._count} workers started: pids {' '.join(map(str, self.pids))}")
            while not self._stopping:
                if not self._reap_and_restart():
                    status = 1
                    break
                time.sleep(0.1)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def _reap_and_restart(self) -> bool:
        """Restart every worker that exited; False once the restart budget is spent."""
        while self._children:
            try:
                pid, code = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return True
            if pid == 0:
                return True
            slot = self._children.pop(pid, None)
            if slot is None or self._stopping:
                continue
            now = time.monotonic()
            while self._restarts and self._restarts[0] <= now - self._window:
                self._restarts.popleft()
            if len(self._restarts) >= self._max_restarts:
                self._log(f"worker {pid} exited ({_describe(code)}); {self._max_restarts} "
                          f"restarts in {self._window:.0f} s already, so the server stops: "
                          "see the workers' errors above")
                return False
            self._restarts.append(now)
            self._log(f"worker {pid} exited ({_describe(code)}); restarted as "
                      f"{self._spawn(slot)}")
        return True

    def _stop_all(self) -> None:
        self._stopping = True
        _signal_all(self._children, signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        while self._children and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self._children.clear()
                break
            if pid == 0:
                time.sleep(0.05)
            else:
                self._children.pop(pid, None)
        if self._children:
            self._log(f"workers {' '.join(map(str, self.pids))} did not stop in "
                      f"{self._stop_timeout:.0f} s: killed")
            _signal_all(self._children, signal.SIGKILL)
            for pid in list(self._children):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            self._children.clear()


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in list(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _describe(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"signal {signal.Signals(os.WTERMSIG(wait_status)).name}"
    return f"status {os.waitstatus_to_exitcode(wait_status)}"


def listen_failure(host: str, port: int, exc: OSError) -> tuple[str, str | None]:
    """Why ``host:port`` cannot be listened on, and what to do: the one wording of the
    one-process server and of the workers' supervisor."""
    import errno

    in_use = exc.errno == errno.EADDRINUSE
    reason = "address already in use" if in_use else (exc.strerror or str(exc)).lower()
    hint = "stop what uses the port, or give another one with --port" if in_use else None
    return f"cannot listen on {host}:{port}: {reason}", hint


def run_workers(make_app: Callable[[], Any], *, host: str, port: int, workers: int,
                log: Callable[[str], None] | None = None,
                limits: ServerLimits | None = None,
                sockets: list[socket.socket] | None = None) -> int:
    """Serve ``make_app()`` (called once in each worker) from ``workers`` processes on
    ``host:port`` until SIGINT/SIGTERM; returns the exit status. POSIX only (fork). Every
    worker cuts off slow, idle and surplus clients by ``limits`` (its own connection count).
    ``sockets`` are ones :func:`listen_sockets` already bound (the caller then reports a port
    in use itself); without them they are bound here."""
    if not hasattr(os, "fork"):
        raise ConfigurationError("--workers needs fork(): run one worker per process instead")
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        socks = sockets if sockets is not None else listen_sockets(host, port, workers)
    except OSError as exc:
        log(listen_failure(host, port, exc)[0])
        return 1
    try:
        return Supervisor(make_app, socks, workers, log=log, limits=limits).run()
    finally:
        for sock in socks:
            sock.close()
