"""``milkbot perf loadtest``: one command, one verdict.

A run has three Locust phases against the same server, each a headless ``locust`` process on
``tests/performance/locustfile.py``:

1. *ceiling*: the bare endpoint (no database, no cache) with no think time: the framework's
   throughput on this machine;
2. *capacity*: the scenario's user mix with no think time: the server's throughput on real
   requests (the RPS criterion, and the ratio to the ceiling);
3. *scenario*: the modelled users with think time for the scenario's duration (the stress
   scenario then searches for the breaking point).

Resource use is sampled throughout and judged over the scenario's measured window. When nothing
answers at the target a private platform is started first (:mod:`milkbot.perf.server`).
Results go to ``<results>/loadtest/<scenario>/`` (the summary as JSON and one screen of text,
the HTML report with the charts, Locust's own CSVs and HTML report, the resource samples) and
the stable ``<results>/loadtest.json`` (:class:`~milkbot.perf.records.LoadTestResults`).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import psycopg

from milkbot.perf import server as plat
from milkbot.perf.environment import describe_dataset, describe_machine
from milkbot.perf.gate import RefusedError, read_record
from milkbot.perf.histograms import PhaseResult, read_snapshot
from milkbot.perf.judge import LoadTestRun, judge_run
from milkbot.perf.records import Dataset, LoadTestResults, LoadTestSummary
from milkbot.perf.report import render_report
from milkbot.perf.resources import ResourceSample, ResourceSampler, listening_pid, open_files_limit
from milkbot.perf.scenarios import Scenario, Target, format_duration
from milkbot.perf.screen import plain_text
from milkbot.settings import load_settings

STARTUP_GRACE_S = 90.0


class LoadTestError(RuntimeError):
    """A phase could not run (Locust failed, the platform did not start); says where to look."""


@dataclass(frozen=True)
class LoadTestOptions:
    """Everything a run needs; built by the CLI from flags and ``LOAD_TEST_*`` variables."""

    scenario: Scenario
    target: Target
    locustfile: Path
    results: Path
    weights: str | None = None
    ceiling_path: str = "/api/v1/ping"
    trades: int = 1_000_000
    seed: int = 42
    home: Path = field(default_factory=plat.default_home)
    database_url: str | None = None
    sample_interval_s: float = 1.0


Progress = Callable[[str], None]


def _latest(history: Path) -> str:
    """Users, RPS and current P95 from the last aggregated line of Locust's history CSV."""
    try:
        with history.open("rb") as fh:
            header = fh.readline().decode()
            fh.seek(max(0, history.stat().st_size - 4096))
            lines = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return "starting"
    for line in reversed(lines):
        if ",Aggregated," in line:
            row = dict(zip(next(csv.reader([header])), next(csv.reader([line])), strict=False))
            rps = float(row["Requests/s"])
            return f"{row['User Count']} users, {rps:.1f} req/s, P95 {row['95%']} ms"
    return "starting"


def run_phase(
    opts: LoadTestOptions,
    name: str,
    out: Path,
    *,
    users: int,
    spawn_rate: float,
    run_time_s: float,
    env: dict[str, str],
    sampler: ResourceSampler,
    progress: Progress,
    shape_budget_s: float | None = None,
) -> PhaseResult:
    """One headless Locust process; its measured window. ``shape_budget_s`` set: the
    locustfile's shape drives users and duration (Locust's -u/-r/-t do not apply)."""
    prefix = out / name
    snapshot = out / f"{name}_snapshot.json"
    cmd = [sys.executable, "-m", "locust", "-f", str(opts.locustfile), "--headless"]
    cmd += ["--host", opts.target.url, "--csv", str(prefix), "--csv-full-history", "--only-summary"]
    cmd += ["--html", str(out / f"{name}.html")]
    cmd += ["--logfile", str(out / f"{name}.log"), "--exit-code-on-error", "0"]
    if shape_budget_s is None:
        cmd += ["-u", str(users), "-r", f"{spawn_rate:g}", "-t", f"{max(1, round(run_time_s))}s"]
    child_env = {**os.environ, **env, "LOAD_TEST_SNAPSHOT": str(snapshot)}
    if opts.weights:
        child_env["LOAD_TEST_WEIGHTS"] = opts.weights
    child_env["LOAD_TEST_CEILING_PATH"] = opts.ceiling_path
    budget = (shape_budget_s or run_time_s) + STARTUP_GRACE_S
    console_log = out / f"{name}.out"
    with console_log.open("w") as fh:
        proc = subprocess.Popen(cmd, env=child_env, stdout=fh, stderr=subprocess.STDOUT)
    sampler.watch_loadgen(proc.pid)
    started = time.monotonic()
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - started
            if elapsed > budget:
                raise LoadTestError(
                    f"locust ({name}) ran past its {budget:.0f} s budget; see {console_log}"
                )
            planned = format_duration(shape_budget_s or run_time_s)
            latest = _latest(out / f"{name}_stats_history.csv")
            progress(f"{name}: {format_duration(elapsed)} of {planned}  {latest}")
            time.sleep(1.0)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        sampler.watch_loadgen(None)
    if not snapshot.exists():
        tail = "\n".join(console_log.read_text(errors="replace").splitlines()[-20:])
        raise LoadTestError(
            f"locust ({name}) exited with {proc.returncode} without results:\n{tail}"
        )
    return read_snapshot(snapshot)


def _external_database(opts: LoadTestOptions) -> str | None:
    """The database of a server someone else started: --database-url, MILKBOT_DATABASE_URL,
    or the embedded server under MILKBOT_HOME if one runs (nothing is started)."""
    if opts.database_url:
        return opts.database_url
    settings = load_settings()
    if settings.database_url:
        return settings.database_url
    from milkbot.db.embedded import EmbeddedPostgres

    return EmbeddedPostgres(settings.home).running_url()


def _stress_env(scenario: Scenario) -> dict[str, str]:
    """The locustfile's shape settings for the stress scenario (empty for the others)."""
    if scenario.stress is None:
        return {}
    hold = {"hold_users": scenario.users, "spawn_rate": scenario.spawn_rate}
    shape = {**hold, "hold_s": scenario.run_time_s, **asdict(scenario.stress)}
    return {"LOAD_TEST_STRESS_PLAN": json.dumps(shape)}


def _peak_users(scenario: Scenario) -> int:
    return max(
        scenario.users, scenario.phase_users, scenario.stress.max_users if scenario.stress else 0
    )


def run_phases(
    opts: LoadTestOptions,
    out: Path,
    sampler: ResourceSampler,
    echo: Progress,
    progress: Progress,
    notes: list[str],
) -> dict[str, PhaseResult]:
    """Ceiling (when the bare endpoint answers), capacity, then the scenario itself."""
    sc = opts.scenario
    phases: dict[str, PhaseResult] = {}
    quick = f"{sc.phase_users} users, no think time, {format_duration(sc.phase_s)}"
    status = plat.http_status(opts.target.url + opts.ceiling_path)
    if status != 200:
        notes.append(
            f"no bare endpoint at {opts.ceiling_path} (HTTP {status}): ceiling not measured"
        )
    for name, what in (("ceiling", opts.ceiling_path), ("capacity", "the user mix")):
        if name == "ceiling" and status != 200:
            continue
        echo(f"{name}: {what}, {quick}")
        phases[name] = run_phase(
            opts,
            name,
            out,
            users=sc.phase_users,
            spawn_rate=sc.phase_users,
            run_time_s=sc.phase_s,
            env={"LOAD_TEST_PHASE": name},
            sampler=sampler,
            progress=progress,
        )
    echo(f"scenario {sc.name}: {sc.description}")
    budget = None
    if sc.stress is not None:
        budget = sc.run_time_s + sc.stress.max_search_s + sc.stress.step_s + 60
    phases["scenario"] = run_phase(
        opts,
        "scenario",
        out,
        users=sc.users,
        spawn_rate=sc.spawn_rate,
        run_time_s=sc.run_time_s,
        env={"LOAD_TEST_PHASE": "scenario", **_stress_env(sc)},
        sampler=sampler,
        progress=progress,
        shape_budget_s=budget,
    )
    return phases


def _dataset(db_url: str | None) -> Dataset | None:
    """The tested database's description, ``None`` when it is unknown or unreachable."""
    if db_url is None:
        return None
    try:
        return describe_dataset(db_url)
    except psycopg.Error:
        return None


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def write_samples(samples: list[ResourceSample], path: Path) -> None:
    """The resource readings as CSV (one row a second: CPU %, memory %, connections...)."""
    names = [f.name for f in fields(ResourceSample)]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(x.to_dict() for x in samples)


def _previous_results(path: Path) -> LoadTestResults:
    """The stable results file's scenarios so far (an old-format file converted, an unreadable
    one ignored)."""
    try:
        record, _ = read_record(path)
    except RefusedError:
        return LoadTestResults(scenarios={})
    return record if isinstance(record, LoadTestResults) else LoadTestResults(scenarios={})


def write_outputs(run: LoadTestRun, results: Path) -> LoadTestSummary:
    """Judge the run; write summary.json, summary.txt, report.html and resources.csv in the
    scenario's directory, its entry in ``results/loadtest.json`` and the texts of all
    scenarios in ``loadtest.txt``. The summary."""
    summary = judge_run(run)
    summary.write(run.out / "summary.json")
    (run.out / "summary.txt").write_text(plain_text(summary))
    (run.out / "report.html").write_text(render_report(summary, run))
    write_samples(run.samples, run.out / "resources.csv")
    stable = results / "loadtest.json"
    every = _previous_results(stable)
    every = every.model_copy(update={"scenarios": {**every.scenarios, summary.scenario: summary}})
    every.write(stable)
    texts = [
        text.read_text()
        for name in sorted(every.scenarios)
        if (text := results / "loadtest" / name / "summary.txt").exists()
    ]
    (results / "loadtest.txt").write_text("\n".join(texts))
    return summary


def run_loadtest(
    opts: LoadTestOptions, echo: Progress, progress: Progress
) -> tuple[LoadTestRun, LoadTestSummary]:
    """Run the scenario of ``opts`` (starting a private platform if needed) and write its
    results; the run and its judged summary."""
    out = opts.results / "loadtest" / opts.scenario.name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    notes: list[str] = []
    with ExitStack() as stack:
        if plat.answering(opts.target):
            echo(f"using the server already answering at {opts.target.url}")
            db_url = _external_database(opts)
            app_pid = listening_pid(opts.target.port)
            started_platform = False
            metrics_token = _settings_token()
        else:
            echo(f"nothing answers at {opts.target.url}: starting a private platform")
            platform = stack.enter_context(
                plat.private_platform(
                    opts.target,
                    trades=opts.trades,
                    seed=opts.seed,
                    home=opts.home,
                    logs=out,
                    echo=echo,
                )
            )
            db_url = platform.database_url
            app_pid = listening_pid(opts.target.port) or platform.server_pid
            started_platform = True
            metrics_token = platform.metrics_token
        server = plat.server_facts(opts.target.url, app_pid, metrics_token)
        if server.pool_capacity is None:
            notes.append(
                f"the server's pool size could not be read from {opts.target.url}/metrics "
                "(for an already running server, set MILKBOT_METRICS_TOKEN_FILE to its metrics "
                "token file): database connections not judged"
            )
        dataset = _dataset(db_url)
        sampler = ResourceSampler(app_pid=app_pid, db_url=db_url, interval=opts.sample_interval_s)
        if app_pid is None:
            notes.append("server process not found: server CPU not measured")
        elif (limit := open_files_limit(app_pid)) is not None and 0 < limit < _peak_users(
            opts.scenario
        ) + 100:
            notes.append(
                f"the server may open only {limit} files: fewer than the run's users need "
                "(raise its `ulimit -n`)"
            )
        if db_url is None:
            notes.append("database unknown (set MILKBOT_DATABASE_URL): connections not measured")
        elif not sampler.measures_db_cpu:
            notes.append("database not on this machine: server CPU is the web server's only")
        sampler.start()
        stack.callback(sampler.stop)
        phases = run_phases(opts, out, sampler, echo, progress, notes)
    run = LoadTestRun(
        scenario=opts.scenario,
        target=opts.target.url,
        weights=opts.weights,
        machine=describe_machine(),
        dataset=dataset,
        commit=_commit(),
        server=server,
        phases=phases,
        samples=sampler.samples,
        started_platform=started_platform,
        server_found=app_pid is not None,
        notes=notes,
        ceiling_path=opts.ceiling_path,
        out=out,
        sample_interval_s=opts.sample_interval_s,
    )
    return run, write_outputs(run, opts.results)


def _settings_token() -> str | None:
    """The metrics token this process's settings name (MILKBOT_METRICS_TOKEN_FILE), if any."""
    from milkbot.settings import SettingsError, load_settings

    try:
        return load_settings().metrics_token
    except SettingsError:
        return None
