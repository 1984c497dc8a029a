"""Every ```python block of README.md runs, as written, against a MockTokenEndpoint.

How the blocks run:

- The blocks of one README section (between ``<!-- BEGIN name -->`` and ``<!-- END name -->``)
  run in order in ONE shared namespace, like a tutorial: a later block may use what an earlier
  block of the same section defined. Sections do not share names; each is one test,
  ``test_readme_section[name]`` (blocks outside any section form the section ``top``).
- Around each section: a fresh ``$JWTBEARER_HOME`` whose key store already holds a key named
  ``my-cert``; a :class:`MockTokenEndpoint` installed (answers carry Salesforce's
  ``instance_url``); and no network: resolving or connecting to anything but loopback fails.
- A ``def test_*`` that a block defines is then called, with a freshly installed mock for a
  ``token_endpoint`` parameter (the pytest fixture of the same name).
- A block followed by a line ``prints`` and a plain fenced block must print exactly that.
- A block is skipped only when the line right before its fence is
  ``<!-- not run: <reason> -->``; the reason may not be empty.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import ipaddress
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jwtbearer import KeyStore
from jwtbearer.testing import MockTokenEndpoint

README = Path(__file__).resolve().parent.parent / "README.md"
_BEGIN = re.compile(r"^<!-- BEGIN ([\w-]+) -->\s*$")
_END = re.compile(r"^<!-- END ([\w-]+) -->\s*$")
_NOT_RUN = re.compile(r"^<!--\s*not run\b(?P<rest>.*?)-->\s*$")
_MY_SECTIONS = ("install", "apex", "testing", "errors")


@dataclass(frozen=True)
class Block:
    section: str
    line: int  # 1-based line of the first code line
    code: str
    skip_reason: str | None  # None: runs
    skip_comment: str | None  # the raw comment when there is one
    prints: str | None  # expected stdout, when the README shows it


def _fence_end(lines: list[str], start: int) -> int:
    for index in range(start, len(lines)):
        if lines[index].strip() == "```":
            return index
    raise AssertionError(f"README.md:{start}: a fenced block is never closed")


def parse_readme(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    section = "top"
    index = 0
    while index < len(lines):
        line = lines[index]
        if (begin := _BEGIN.match(line)) is not None:
            section = begin.group(1)
        elif _END.match(line) is not None:
            section = "top"
        elif line.strip().startswith("```python"):
            end = _fence_end(lines, index + 1)
            previous = lines[index - 1].strip() if index else ""
            comment = _NOT_RUN.match(previous)
            reason = None
            if comment is not None:
                rest = comment.group("rest").strip()
                reason = rest[1:].strip() if rest.startswith(":") else ""
            blocks.append(Block(
                section=section,
                line=index + 2,
                code="\n".join(lines[index + 1:end]) + "\n",
                skip_reason=reason,
                skip_comment=previous if comment is not None else None,
                prints=_expected_output(lines, end + 1),
            ))
            index = end
        index += 1
    return blocks


def _expected_output(lines: list[str], start: int) -> str | None:
    rest = [(i, line) for i, line in enumerate(lines[start:start + 4], start) if line.strip()]
    if len(rest) < 2 or rest[0][1].strip() != "prints" or rest[1][1].strip() != "```":
        return None
    end = _fence_end(lines, rest[1][0] + 1)
    return "\n".join(lines[rest[1][0] + 1:end]) + "\n"


BLOCKS = parse_readme(README.read_text(encoding="utf-8"))
SECTIONS = sorted({b.section for b in BLOCKS if b.skip_reason is None})


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse DNS and connections to anything but loopback, as a test without network must."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise socket.gaierror(f"README tests have no network (looked up {host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise ConnectionRefusedError(f"README tests have no network (to {address!r})")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield


def new_mock() -> MockTokenEndpoint:
    return MockTokenEndpoint(extra={"instance_url": "https://yourorg.my.salesforce.com"})


def _call_tests(namespace: dict[str, Any], before: set[str], block: Block) -> None:
    """Call the ``test_*`` functions this block defined, as pytest would."""
    for name, value in list(namespace.items()):
        if name in before or not name.startswith("test_") or not callable(value):
            continue
        fixtures: dict[str, Callable[[], Any]] = {"token_endpoint": new_mock}
        params = list(inspect.signature(value).parameters)
        unknown = [p for p in params if p not in fixtures]
        assert not unknown, (
            f"README.md:{block.line}: {name} asks for fixtures {unknown} that this test "
            "does not provide"
        )
        mocks = {p: fixtures[p]() for p in params}
        with contextlib.ExitStack() as stack:
            for mock in mocks.values():
                stack.enter_context(mock.install())
            value(**mocks)


def run_block(block: Block, namespace: dict[str, Any]) -> None:
    # Leading newlines put the code at its README line, so a traceback points into README.md.
    source = "\n" * (block.line - 1) + block.code
    code = compile(source, str(README), "exec")
    before = set(namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, namespace)
        _call_tests(namespace, before, block)
    if block.prints is not None:
        assert out.getvalue() == block.prints, (
            f"README.md:{block.line}: the block printed something other than what the README "
            f"shows:\n{out.getvalue()}"
        )


@pytest.mark.parametrize("section", SECTIONS)
def test_readme_section(
    section: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWTBEARER_HOME", str(tmp_path / "home"))
    KeyStore().create("my-cert")
    monkeypatch.chdir(tmp_path)  # a block that writes a file writes it here
    namespace: dict[str, Any] = {"__name__": f"readme_{section}"}
    with no_network(monkeypatch), new_mock().install():
        for block in BLOCKS:
            if block.section == section and block.skip_reason is None:
                run_block(block, namespace)


def test_every_skipped_block_gives_a_reason() -> None:
    for block in BLOCKS:
        if block.skip_comment is not None:
            assert block.skip_reason, (
                f"README.md:{block.line}: {block.skip_comment!r} must say why, as "
                "<!-- not run: <reason> -->"
            )


def test_our_sections_have_runnable_examples() -> None:
    text = README.read_text(encoding="utf-8")
    for name in _MY_SECTIONS:
        assert f"<!-- BEGIN {name} -->" in text, name
    runnable = {b.section for b in BLOCKS if b.skip_reason is None}
    assert {"apex", "testing", "errors", "sender"} <= runnable


def test_parser_finds_blocks_sections_skips_and_output() -> None:
    sample = "\n".join([
        "<!-- BEGIN one -->",
        "```python",
        "print('a')",
        "```",
        "",
        "prints",
        "",
        "```",
        "a",
        "```",
        "<!-- not run: needs a Redis server -->",
        "```python",
        "x = 1",
        "```",
        "<!-- END one -->",
        "<!-- not run -->",
        "```python",
        "y = 2",
        "```",
    ])
    first, second, third = parse_readme(sample)
    assert (first.section, first.line, first.code, first.prints) == ("one", 3, "print('a')\n",
                                                                     "a\n")
    assert first.skip_reason is None
    assert second.skip_reason == "needs a Redis server" and second.section == "one"
    assert third.section == "top" and third.skip_reason == ""
    with pytest.raises(AssertionError, match="never closed"):
        parse_readme("```python\nx = 1\n")


def test_no_network_guard_refuses_the_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    with no_network(monkeypatch):
        with pytest.raises(OSError):
            socket.getaddrinfo("login.salesforce.com", 443)
        with pytest.raises(OSError), socket.socket() as sock:
            sock.connect(("192.0.2.1", 443))
