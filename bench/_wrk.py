"""Load from ``wrk`` with an honest account: refusals fail the run, one-shot bodies are never
replayed, and the server's CPU time is read from ``/proc`` around the run.

- Every answer wrk counts as an error fails the row: HTTP statuses >= 400 (wrk's "Non-2xx or
  3xx" counter, which counts exactly those) and socket errors (connect, read, write, timeout).
  :func:`refusals` says what went wrong; the bench writes it into RESULTS.md and exits non-zero.
- ``once`` bodies (JWT bearer assertions: a second use is a replay the server must refuse) are
  each sent at most once: at the last body the Lua script stops the load and notes the time, and
  the rate is computed over the time the bodies lasted, not over wrk's whole ``-d``.
- CPU: utime + stime of the server's process and every descendant (workers, Node.js helpers)
  from ``/proc/PID/stat``, read before and after the run, divided by the answers counted.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CONNECTIONS = 8

LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } jb_timespec;
int clock_gettime(int clk_id, jb_timespec *tp);
]]
local ts = ffi.new("jb_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

local bodies = {}
local auth = nil
local once = false
i = 0
started_us = 0
stopped_us = 0
function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do bodies[#bodies + 1] = line end
  f:close()
  if args[2] ~= nil and args[2] ~= "" then auth = args[2] end
  once = args[3] == "once"
end
function request()
  if started_us == 0 then started_us = now_us() end
  if once and i >= #bodies then
    -- Out of one-shot bodies: stop this thread rather than replay one. The request returned
    -- here is never answered (the loop stops first), so it is not counted.
    if stopped_us == 0 then stopped_us = now_us() end
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  i = i % #bodies + 1
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  if auth then headers["Authorization"] = auth end
  return wrk.format("POST", nil, headers, bodies[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  local t = threads[1]
  local started, stopped = t:get("started_us"), t:get("stopped_us")
  local duration = summary.duration
  if stopped ~= 0 then duration = stopped - started end
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d,"p50_us":%d,' ..
    '"p99_us":%d,"bodies":%d,"exhausted":%s}\n',
    summary.requests, duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), t:get("i"), tostring(stopped ~= 0)))
end
"""


def write_script(directory: Path) -> Path:
    path = directory / "bodies.lua"
    path.write_text(LUA)
    return path


def _ticks(pid: int) -> tuple[int, int]:
    # Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_cpu(pids: Iterable[int]) -> float:
    """CPU seconds (user + system) used so far by ``pids`` and all their live descendants."""
    return sum(tree_cpu_split(pids))


def tree_cpu_split(pids: Iterable[int]) -> tuple[float, float]:
    """User and system CPU seconds used so far by ``pids`` and all their live descendants."""
    tree = _children()
    todo, seen, user, system = list(pids), set(), 0, 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            utime, stime = _ticks(pid)
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        user, system = user + utime, system + stime
        todo.extend(tree.get(pid, ()))
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


def wrk(url: str, bodies: Path, auth: str, duration: int, script: Path, *,
        once: bool = False, cpu_of: Iterable[int] = ()) -> dict[str, Any]:
    """One wrk run against ``url`` (POST each line of ``bodies``, ``auth`` as Authorization if
    given). ``once``: never send a body twice. ``cpu_of``: server pids to account CPU for."""
    pids = list(cpu_of)
    before = tree_cpu_split(pids) if pids else (0.0, 0.0)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{int(duration)}s", "--timeout", "5s",
         "-s", str(script), url, "--", str(bodies), auth, "once" if once else ""],
        capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    after = tree_cpu_split(pids) if pids else (0.0, 0.0)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT "):])
    result["rps"] = result["requests"] / max(result["duration_us"] / 1e6, 1e-6)
    if pids:
        answered = max(result["requests"], 1)
        result["cpu_us"] = (sum(after) - sum(before)) / answered * 1e6
        result["sys_us"] = (after[1] - before[1]) / answered * 1e6
    return result


def refusals(result: dict[str, Any]) -> str | None:
    """Why a run of valid requests failed, or None: any error answer or socket error fails."""
    bad = result["non2xx"] + result["errors"]
    if result["requests"] == 0:
        return "no request was answered"
    if bad:
        return (f"{result['non2xx']} answers with status >= 400 and {result['errors']} socket "
                f"errors out of {result['requests']} requests")
    return None
