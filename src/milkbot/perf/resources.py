"""Resource use during a load test: the server's CPU and memory, the machine's, and the
database connections the app holds, sampled on a background thread.

CPU figures are percentages of the whole machine (all cores = 100%), from the CPU time each
process tree used between two samples: the web server (the process listening on the port and
its workers), the database (the postmaster and its backends, when it runs on this machine) and
the load generator (Locust itself, which shares the machine). Connections come from
``pg_stat_activity``: client backends on the app's database other than the sampler's own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import psutil
import psycopg

COUNT_CONNECTIONS = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
"""
BACKEND_PID = "SELECT pg_backend_pid()"


@dataclass(frozen=True)
class ResourceSample:
    """One reading: wall time (s since the epoch), CPU as % of the machine for the web server,
    the database, both together and the load generator, the machine's CPU and memory use (%),
    the web server's resident memory (MiB), the app's database connections, and the CPU
    seconds web server and database used since the previous reading."""

    t: float
    app_cpu: float
    db_cpu: float
    server_cpu: float
    loadgen_cpu: float
    machine_cpu: float
    machine_mem: float
    app_rss_mb: float
    db_connections: int | None
    server_cpu_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


class ProcessTree:
    """CPU time of a process and its descendants between calls of :meth:`cpu_seconds`."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._seen: dict[int, float] = {}

    def _members(self) -> list[psutil.Process]:
        if self.pid is None:
            return []
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the tree used since the previous call."""
        used = 0.0
        seen: dict[int, float] = {}
        for proc in self._members():
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total = times.user + times.system
            seen[proc.pid] = total
            used += total - self._seen.get(proc.pid, 0.0)
        self._seen = seen
        return max(used, 0.0)

    def rss_mb(self) -> float:
        """Resident memory of the tree in MiB."""
        total = 0
        for proc in self._members():
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total / 2**20


def listening_pid(port: int) -> int | None:
    """The server process behind TCP ``port``: the process listening on it or, when workers
    listen on a socket their supervisor made (granian, gunicorn), that supervisor (the parent
    running the same command line). ``None`` when no listener can be seen (another user's
    process without privileges)."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return None
    pids = {
        c.pid
        for c in conns
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
    }
    if not pids:
        return None
    try:
        proc = psutil.Process(min(pids))
        while (parent := proc.parent()) is not None and parent.pid != 1:
            if parent.pid not in pids and parent.cmdline() != proc.cmdline():
                break
            proc = parent
    except psutil.Error:
        return None
    return int(proc.pid)


def count_workers(pid: int) -> int | None:
    """The web workers of the server process ``pid``: the children forked from it (they run its
    command line, as granian's workers do), or 1 when it has none (it serves alone). ``None``
    when the process cannot be read."""
    try:
        proc = psutil.Process(pid)
        command = proc.cmdline()
        forked = [c for c in proc.children() if c.cmdline() == command]
    except psutil.Error:
        return None
    return len(forked) or 1


def open_files_limit(pid: int) -> int | None:
    """The soft limit of open files of process ``pid`` (``None`` if it cannot be read)."""
    try:
        soft, _hard = psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)
    except (psutil.Error, AttributeError):
        return None
    return int(soft)


def postmaster_pid(db_url: str) -> int | None:
    """The PostgreSQL postmaster serving ``db_url`` when it runs on this machine: the parent
    of this connection's backend process."""
    try:
        with psycopg.connect(db_url, connect_timeout=5) as conn:
            row = conn.execute(BACKEND_PID).fetchone()
            # While the connection is open: its backend exits as soon as it closes.
            backend = psutil.Process(int(row[0])) if row else None
            parent = backend.parent() if backend else None
    except (psycopg.Error, psutil.Error):
        return None
    if parent is None or "postgres" not in parent.name():
        return None
    return int(parent.pid)


class ResourceSampler:
    """Samples every ``interval`` seconds on a daemon thread between :meth:`start` and
    :meth:`stop`; :attr:`samples` holds the readings. :meth:`watch_loadgen` points the
    load-generator figure at the current Locust process."""

    def __init__(self, *, app_pid: int | None, db_url: str | None, interval: float = 2.0) -> None:
        self.interval = interval
        self.db_url = db_url
        self.app = ProcessTree(app_pid)
        self.db = ProcessTree(postmaster_pid(db_url) if db_url else None)
        self.loadgen = ProcessTree(None)
        self.samples: list[ResourceSample] = []
        self.cpus = psutil.cpu_count() or 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def measures_db_cpu(self) -> bool:
        """Whether the database runs on this machine (its CPU is then part of the server's)."""
        return self.db.pid is not None

    def watch_loadgen(self, pid: int | None) -> None:
        """Attribute load-generator CPU to process ``pid`` (and its children) from now on."""
        tree = ProcessTree(pid)
        tree.cpu_seconds()
        self.loadgen = tree

    def start(self) -> None:
        """Take the baseline and start sampling."""
        for tree in (self.app, self.db, self.loadgen):
            tree.cpu_seconds()
        psutil.cpu_percent(interval=None)
        self._last = time.monotonic()
        self._thread.start()

    def stop(self) -> list[ResourceSample]:
        """Stop sampling (waits for the thread) and return the samples."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 10)
        if self._conn is not None:
            self._conn.close()
        return self.samples

    def _connections(self) -> int | None:
        if self.db_url is None:
            return None
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    self.db_url,
                    autocommit=True,
                    connect_timeout=5,
                    application_name="milkbot-loadtest-sampler",
                )
            row = self._conn.execute(COUNT_CONNECTIONS).fetchone()
            return int(row[0]) if row else None
        except psycopg.Error:
            self._conn = None
            return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            elapsed, self._last = now - self._last, now
            capacity = elapsed * self.cpus / 100.0
            app_s, db_s = self.app.cpu_seconds(), self.db.cpu_seconds()
            self.samples.append(
                ResourceSample(
                    t=time.time(),
                    app_cpu=app_s / capacity,
                    db_cpu=db_s / capacity,
                    server_cpu=(app_s + db_s) / capacity,
                    loadgen_cpu=self.loadgen.cpu_seconds() / capacity,
                    machine_cpu=psutil.cpu_percent(interval=None),
                    machine_mem=psutil.virtual_memory().percent,
                    app_rss_mb=self.app.rss_mb(),
                    db_connections=self._connections(),
                    server_cpu_s=app_s + db_s,
                )
            )
