"""Idle DuckDB instances that a process attaches the warehouse to, instead of opening new ones.

A new DuckDB instance costs about 10 ms (it registers every built-in function), and a sync
opens a connection for every writer session and every read: fifteen for one company, 0.15-0.25
s of each run's fixed cost. Here a connection is a cursor on an in-memory instance, taken
from the idle ones of this process when there is one. The warehouse file is attached to it
for the use (``connection.py``). When the connection is given back:

- the cursor is closed (its transaction, temporary objects and session settings go with it);
- the global settings a use may change (``RESTORED``, and those of the instance's config)
  are set back;
- every attached database is detached, which checkpoints it and closes its file, as closing
  the instance did.

An instance is closed instead when its use set a memory limit of its own (a big use), left
tables in its in-memory catalog (a write session's staged batches), or when any of this
fails (the error is raised). At most ``MAX_IDLE`` wait.

When a take leaves no idle instance, a spare one is made on a thread of its own (DuckDB lets
go of the GIL meanwhile), so that the next take need not wait for it: after its crawl a sync
closes four big uses' instances (loading, the deletion scan, the checks, publishing), each
followed by a take. A short process (one CLI query) makes one it never uses: 15 ms of CPU on
another thread, and its exit waits for it.
"""

from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import duckdb

# At most this many idle instances wait (a sync's writer and a reader at once); the oldest
# is closed to make room.
MAX_IDLE = 2

# The global settings warehouse connections change besides those of the instance's config
# (``SET`` with no scope changes these for the whole instance).
RESTORED = ("threads", "checkpoint_threshold", "write_buffer_row_group_count")

_INTERNAL = {"memory", "system", "temp"}


@dataclass
class _Instance:
    con: duckdb.DuckDBPyConnection
    config: dict[str, str]
    settings: dict[str, object] = field(init=False)  # as new: ``current()``

    def __post_init__(self) -> None:
        self.settings = self.current()

    def current(self) -> dict[str, object]:
        """The settings to restore, and memory_limit (a tenth of what duckdb_settings() costs)."""
        names = list(dict.fromkeys([*self.config, "memory_limit", *RESTORED]))
        row = self.con.execute(
            "SELECT " + ", ".join(f"current_setting('{name}')" for name in names)
        ).fetchone()
        return dict(zip(names, row or (), strict=True))


_lock = threading.Lock()
_idle: list[_Instance] = []
_lent: dict[int, tuple[duckdb.DuckDBPyConnection, _Instance]] = {}  # id(cursor) -> both
_spares: dict[tuple[tuple[str, str], ...], Future[_Instance]] = {}  # by config, being made


def take(config: dict[str, str]) -> duckdb.DuckDBPyConnection:
    """A fresh cursor on an idle instance with ``config`` (the spare, or a new instance, if
    none waits)."""
    found = spare = None
    with _lock:
        for n in range(len(_idle) - 1, -1, -1):
            if _idle[n].config == config:
                found = _idle.pop(n)
                break
        else:
            spare = _spares.pop(_key(config), None)
    if spare is not None:
        try:
            found = spare.result()
        except Exception:  # made anew below, which raises the error where it belongs
            found = None
    if found is None:
        found = _new(config)
    _keep_a_spare(config)
    try:
        cursor = found.con.cursor()
    except BaseException:
        found.con.close()
        raise
    with _lock:
        _lent[id(cursor)] = (cursor, found)
    return cursor


def give_back(cursor: duckdb.DuckDBPyConnection, *, staged: bool = False) -> None:
    """Close ``cursor``; clean its instance and keep it idle, or close it. An error while
    cleaning (a checkpoint that failed when detaching) is raised, as closing would raise it.
    ``staged``: the use may have made tables in the instance's in-memory catalog (looked up
    only then: a reader's give-back stays one query)."""
    with _lock:
        lent = _lent.pop(id(cursor), None)
    if lent is None:  # lent before this process was forked: the parent's, left alone
        return
    instance = lent[1]
    con = instance.con
    try:
        cursor.close()
        try:
            now = instance.current()
        except duckdb.OutOfMemoryException:  # a limit so low that not even this query runs
            now = None
        if (
            now is None
            or now["memory_limit"] != instance.settings["memory_limit"]
            or (staged and _has_own_tables(con))
        ):
            # A use that set a memory limit of its own is a big one (loading, the checks,
            # publishing), and DuckDB's allocator keeps what it freed while the instance
            # lives (kept, an instance that had loaded and checked 300,000 documents started
            # publishing at 325 MB instead of 240). Closing detaches: raises if a checkpoint fails.
            con.close()
            return
        changed = [k for k, v in now.items() if v != instance.settings[k]]
        for name in changed:  # only these: temp_directory cannot be set once it was used
            if name in instance.config:
                con.execute(f"SET GLOBAL {name} = ?", [instance.config[name]])
            else:
                con.execute(f"RESET GLOBAL {name}")
        if changed and instance.current() != instance.settings:
            raise RuntimeError(f"DuckDB settings {', '.join(changed)} could not be restored")
        attached = con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        for (name,) in attached:
            if name not in _INTERNAL:
                con.execute(f'DETACH "{name}"')
    except BaseException:
        con.close()  # detaches what is still attached: raises if a checkpoint fails
        raise
    with _lock:
        _idle.append(instance)
        evicted = _idle[:-MAX_IDLE]
        del _idle[:-MAX_IDLE]
    for old in evicted:
        old.con.close()


def _new(config: dict[str, str]) -> _Instance:
    return _Instance(duckdb.connect(":memory:", config=config), dict(config))


def _key(config: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(config.items()))


def _keep_a_spare(config: dict[str, str]) -> None:
    """Start making a spare instance with ``config`` unless one is idle or being made."""
    key = _key(config)
    with _lock:
        if key in _spares or any(i.config == config for i in _idle):
            return
        spare: Future[_Instance] = Future()
        _spares[key] = spare

    def make() -> None:
        try:
            spare.set_result(_new(config))
        except BaseException as exc:
            spare.set_exception(exc)

    try:
        threading.Thread(target=make, name="duckdb-spare").start()
    except RuntimeError as exc:  # no new threads (the interpreter is shutting down)
        spare.set_exception(exc)  # the next take makes its own


def _has_own_tables(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a use left tables in the instance's own in-memory catalog (a failed sync's
    staged batch): dropping them would not give their memory back to the system."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'memory' AND NOT temporary"
    ).fetchone()
    return bool(row and row[0])


def _after_fork() -> None:
    """A forked child must not touch its parent's DuckDB instances, not even to close them:
    their worker threads do not exist in the child, and closing one there aborts the process
    (as its destructor would when the child exits). They are leaked on purpose."""
    global _lock
    _lock = threading.Lock()
    inherited = [i.con for i in _idle] + [
        c for lent in _lent.values() for c in (lent[0], lent[1].con)
    ]
    inherited += [s.result().con for s in _spares.values() if s.done() and not s.exception()]
    for con in inherited:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(con))  # never destroyed
    _idle.clear()
    _lent.clear()
    _spares.clear()


def _before_fork() -> None:
    """Wait until no spare is being made: its thread could hold a lock of DuckDB's at the
    fork, which the child, where that thread does not exist, would then wait for forever."""
    with _lock:
        being_made = list(_spares.values())
    for spare in being_made:
        spare.exception()  # returns once the spare is made (or failed)


os.register_at_fork(before=_before_fork, after_in_child=_after_fork)
