"""``dagster dev`` as a subprocess, driven through the webserver's GraphQL API, and the
memory of the run processes it starts.

``dagster dev`` (as ``make dev`` runs it) starts the webserver, the daemon and one code
server; the daemon takes queued runs off the run queue under the instance's limits and the
code server starts each one in a process of its own (a ``multiprocessing`` spawn child).
``RunProcesses`` finds those by their command line among the session's processes and
keeps each one's peak resident set (``VmHWM``) as last seen.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.children import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
STARTUP_S = 180.0

WORKSPACE = """
query {
  workspaceOrError {
    ... on Workspace {
      locationEntries {
        name loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation { repositories { name } }
        }
      }
    }
  }
}"""


class GraphQLError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DagsterDev:
    """``dagster dev -w workspace.yaml`` on a free port in its own session (so that the
    daemon, the code server and every run process can be found and stopped together)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        with log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml",
                 "-h", "127.0.0.1", "-p", str(self.port)],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60.0)
        self.location = ""
        self.repository = ""

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.http.post("/graphql", json={"query": query, "variables": variables})
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise GraphQLError(str(body["errors"])[:500])
        return body["data"]  # type: ignore[no-any-return]

    def wait_loaded(self) -> None:
        """Until the webserver answers and the code location is loaded."""
        deadline = time.monotonic() + STARTUP_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("dagster dev exited:\n" + self.log_tail())
            try:
                entries = self.gql(WORKSPACE)["workspaceOrError"]["locationEntries"]
            except (httpx.TransportError, httpx.HTTPStatusError, GraphQLError):
                entries = []
            loaded = [e for e in entries if e["loadStatus"] == "LOADED"]
            if loaded:
                location = loaded[0]["locationOrLoadError"]
                if location["__typename"] != "RepositoryLocation":
                    raise RuntimeError(f"the code location failed to load: {location}")
                self.location = loaded[0]["name"]
                self.repository = location["repositories"][0]["name"]
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "dagster dev did not load the code location:\n" + self.log_tail()
                )
            time.sleep(0.5)

    @property
    def repository_selector(self) -> dict[str, str]:
        return {"repositoryLocationName": self.location, "repositoryName": self.repository}

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        self.http.close()
        for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after "(comm)": state ppid pgrp session ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _is_spawn_child(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@dataclass
class RunProcesses:
    """Run processes of one session: each one's peak RSS (MB) and CPU seconds as last seen,
    and how many were alive at once (a run's process outlives its run by a moment)."""

    session: int
    peak_rss_mb: dict[int, float] = field(default_factory=dict)
    cpu_s: dict[int, float] = field(default_factory=dict)
    most_alive: int = 0

    def poll(self) -> None:
        alive = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            stat = _stat(pid)
            if stat is None or int(stat[3]) != self.session:
                continue
            if not _is_spawn_child(pid) or _is_spawn_child(int(stat[1])):
                # A run is a multiprocessing child of the code server. A process the run
                # forks shows the run's command line until it execs: not a run.
                continue
            peak = peak_rss_mb(pid)
            if peak is not None:
                alive += 1
                self.peak_rss_mb[pid] = max(peak, self.peak_rss_mb.get(pid, 0.0))
                self.cpu_s[pid] = (int(stat[11]) + int(stat[12])) / _TICKS  # utime + stime
        self.most_alive = max(self.most_alive, alive)
