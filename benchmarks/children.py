"""One measured phase of a benchmark in a fresh child process, so its peak RSS and its
imports are its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

KEY_ENV = "BENCH_BILLINGO_KEY"  # the benchmark account's API key, passed to children


def run_child(
    module: str, args: list[str], what: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """``python -m module *args``; its last stdout line, as JSON. Exits naming ``what`` and
    the end of the child's stderr when it fails."""
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-10:])
        raise SystemExit(f"{what} failed:\n{tail}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """A process's peak resident set (``VmHWM``) in MB; None when it is gone. Not
    ``ru_maxrss``: Linux carries that over fork and exec, so a child started by a large
    parent (the benchmark's, which holds the emulator's pages) would report the parent's."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
