"""Start-up time of the ``brokerlink`` command against a bare ``python -c pass``.

Each run is a fresh process, started the way the installed ``brokerlink`` script starts
(``from brokerlink.cli.app import main; main()``), timed wall clock from spawn to exit,
output discarded. The three commands are run round-robin, ``RUNS`` times each, so a
burst of load on the machine hits all of them alike; the medians are reported, with
each command's ratio to the baseline and its cost over it (the interpreter's own start
is paid by every Python program and is not brokerlink's to save). Each run's CPU time
(user + system, from ``wait4``) is reported beside its wall time: on a busy machine the
wall time grows with the load, the CPU time hardly.

Target: ``brokerlink --help`` and ``brokerlink brokers`` under 0.5 s wall each. The
report also names any heavy library (SQLAlchemy, FastAPI, httpx, aiohttp...) either
command imported: those belong only to the commands that use them.

Run: ``make bench`` (all benchmarks) or ``.venv/bin/python -m bench.cli_startup
[-n RUNS]``; a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_S = 0.5
RUNS = 15
COMMANDS: dict[str, tuple[str, ...]] = {
    "brokerlink --help": ("--help",),
    "brokerlink brokers": ("brokers",),
}
HEAVY = ("sqlalchemy", "alembic", "fastapi", "uvicorn", "httpx", "aiohttp", "authlib",
         "cryptography", "exchange_calendars", "websockets", "brokerlink.manager",
         "brokerlink.storage")
"""Modules neither command may import; the commands that need them import them."""

_ENTRY = "import sys; from brokerlink.cli.app import main; sys.argv[0] = 'brokerlink'; main()"
_PROBE = """
import json, sys
sys.argv = ['brokerlink', *json.loads(sys.argv[1])]
from brokerlink.cli.app import main
try:
    main()
except SystemExit:
    pass
heavy = json.loads(sys.argv[2]) if len(sys.argv) > 2 else []
sys.stderr.write(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


@dataclass(frozen=True)
class Timing:
    """Medians over the runs of one command."""

    wall_s: float
    cpu_s: float


@dataclass(frozen=True)
class StartupResult:
    runs: int
    baseline: Timing
    commands: dict[str, Timing]
    heavy: dict[str, list[str]]

    def report(self) -> str:
        base = self.baseline
        lines = [f"CLI start-up, median of {self.runs} runs each (fresh process): python -c "
                 f"pass {base.wall_s * 1000:.0f} ms wall, {base.cpu_s * 1000:.0f} ms CPU"]
        for name, timing in self.commands.items():
            verdict = "met" if timing.wall_s < TARGET_S else "NOT met"
            lines.append(
                f"  {name}: {timing.wall_s * 1000:.0f} ms wall, {timing.wall_s / base.wall_s:.1f}x "
                f"the baseline, {(timing.wall_s - base.wall_s) * 1000:.0f} ms over it (target "
                f"< {TARGET_S * 1000:.0f} ms: {verdict}); {timing.cpu_s * 1000:.0f} ms CPU, "
                f"{timing.cpu_s / base.cpu_s:.1f}x; heavy imports: "
                f"{', '.join(self.heavy[name]) or 'none'}")
        lines.append("  (wall time grows with other load on the machine; CPU time hardly)")
        return "\n".join(lines)


def _median(runs: list[_Run]) -> Timing:
    return Timing(statistics.median(r.wall_s for r in runs),
                  statistics.median(r.cpu_s for r in runs))


def _env(home: Path) -> dict[str, str]:
    # A throwaway home: neither command should touch one, but a run must never read or
    # create the user's.
    env = {**os.environ, "BROKERLINK_HOME": str(home)}
    env.pop("BROKERLINK_DATABASE_URL", None)
    return env


@dataclass(frozen=True)
class _Run:
    wall_s: float
    cpu_s: float


def _time_one(argv: list[str], env: dict[str, str]) -> _Run:
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,  # noqa: S603
                             stderr=subprocess.DEVNULL)
    # wait4 gives this child's own CPU time: unlike wall time, it barely moves when
    # other work shares the machine.
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, argv)
    return _Run(wall, usage.ru_utime + usage.ru_stime)


def imported_heavy(args: tuple[str, ...], env: dict[str, str] | None = None) -> list[str]:
    """The modules of ``HEAVY`` that ``brokerlink <args>`` has imported when it exits.

    Raises ``subprocess.CalledProcessError`` if the probe process fails.
    """
    finished = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _PROBE, json.dumps(list(args)), json.dumps(list(HEAVY))],
        env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return list(json.loads(finished.stderr.strip().splitlines()[-1]))


def measure(runs: int = RUNS) -> StartupResult:
    """Time ``python -c pass`` and each of ``COMMANDS`` ``runs`` times, round-robin.

    Raises ``subprocess.CalledProcessError`` if a command exits non-zero.
    """
    with tempfile.TemporaryDirectory(prefix="brokerlink-bench-") as tmp:
        env = _env(Path(tmp))
        baseline: list[_Run] = []
        timings: dict[str, list[_Run]] = {name: [] for name in COMMANDS}
        # One untimed round first: the first start after an install pays for writing
        # bytecode caches, which no later start does.
        subprocess.run([sys.executable, "-c", _ENTRY, "--help"], env=env, check=True,  # noqa: S603
                       stdout=subprocess.DEVNULL)
        for _ in range(runs):
            baseline.append(_time_one([sys.executable, "-c", "pass"], env))
            for name, args in COMMANDS.items():
                timings[name].append(_time_one([sys.executable, "-c", _ENTRY, *args], env))
        heavy = {name: imported_heavy(args, env) for name, args in COMMANDS.items()}
    return StartupResult(runs, _median(baseline),
                         {name: _median(times) for name, times in timings.items()}, heavy)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", "--runs", type=int, default=RUNS,
                        help=f"runs of each command (default {RUNS})")
    options = parser.parse_args()
    print(measure(options.runs).report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
