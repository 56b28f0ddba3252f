"""A benchmark's emulator in a child Python process: like a real broker it has its own
interpreter (no GIL shared with the client under test) and, on a multi-core machine,
its own core. The child prints one handshake line (its URL, or URLs) and serves until
its stdin closes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def child_process(code: str) -> Iterator[str]:
    """Run ``code`` in a child Python with this checkout on its path for the block;
    yield the first line it prints (stripped). Closing its stdin on exit asks it to
    stop; it is killed after 10 s. Raises ``RuntimeError`` without pipes."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    process = subprocess.Popen([sys.executable, "-c", code], cwd=root, env=env,  # noqa: S603
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    stdin, stdout = process.stdin, process.stdout
    if stdin is None or stdout is None:
        raise RuntimeError("no pipes to the emulator process")
    try:
        yield stdout.readline().strip()
    finally:
        stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def until_stdin_closes() -> None:
    """In the child: wait (off the event loop) until the parent closes our stdin."""
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
