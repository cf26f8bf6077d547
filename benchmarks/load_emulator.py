"""A Billingo emulator process with many accounts, for the load benchmark.

The parent sends the accounts (API key, documents, seed) as one JSON line on the child's
standard input, so that no key is ever on a command line; the child answers with one JSON
line: its base URL and each account's document and line counts, in the order sent. Each
later ``stats`` line is answered with every account's request count; end of input stops it.
Nothing the child prints contains a key.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from invoice_pipeline.emulators.billingo import BillingoEmulator

# A "timeout" fault holds its answer back this long: longer than the benchmark's client
# timeout, so that it is a real timeout on the client's side.
HOLD_S = 12.0


@dataclass(frozen=True)
class Account:
    api_key: str
    docs: int
    seed: int


def serve(rate_limit: int | None, fault_rate: float, fault_seed: int) -> None:
    """The child: serve the accounts read from stdin until stdin ends."""
    accounts = [Account(**a) for a in json.loads(sys.stdin.readline())]
    emulator = BillingoEmulator(
        rate_limit=rate_limit, fault_rate=fault_rate, fault_seed=fault_seed, timeout_s=HOLD_S
    )
    for account in accounts:
        emulator.add_account(account.api_key, docs=account.docs, seed=account.seed)
    expected = []
    for account in accounts:
        documents = emulator.documents(account.api_key)
        expected.append([len(documents), sum(len(d["items"]) for d in documents)])
    with emulator:
        print(json.dumps({"base_url": emulator.base_url, "expected": expected}), flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                counts = [emulator.request_count(a.api_key) for a in accounts]
                print(json.dumps({"requests": counts}), flush=True)


class EmulatorProcess:
    """The parent's handle on one emulator child."""

    def __init__(
        self, accounts: list[Account], rate_limit: int | None, fault_rate: float, fault_seed: int
    ) -> None:
        self.accounts = accounts
        limit = ["--rate-limit", str(rate_limit)] if rate_limit else []
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.load_emulator", *limit,
             "--fault-rate", str(fault_rate), "--fault-seed", str(fault_seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._send(json.dumps([a.__dict__ for a in accounts]))
        started = self._receive()
        self.base_url: str = started["base_url"]
        self.expected: list[tuple[int, int]] = [tuple(e) for e in started["expected"]]

    def _send(self, line: str) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()

    def _receive(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator exited (code {self._proc.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def request_counts(self) -> list[int]:
        self._send("stats")
        return list(self._receive()["requests"])

    def stop(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-limit", type=int, default=None)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-seed", type=int, default=0)
    args = parser.parse_args()
    serve(args.rate_limit, args.fault_rate, args.fault_seed)


if __name__ == "__main__":
    main()
