"""`milkbot perf ...`: performance tooling. `loadtest` runs one of the guide's load tests and
ends in a verdict (exit 0 pass, 1 a criterion breached, 2 a bad setting, 3 the run failed);
`drill` stops the database under load and judges the answers (same exit codes)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from milkbot.cli.common import get_settings
from milkbot.db.embedded import install_signal_exit
from milkbot.logs import configure_logging
from milkbot.perf.scenarios import (
    DEFAULT_HOST,
    PRESETS,
    ScenarioError,
    check_loopback,
    parse_weights,
    resolve_scenario,
)
from milkbot.settings import state_dir

RESULTS = Path("tests/performance/results")

app = typer.Typer(
    help="Performance tooling: load tests and a database fault drill with pass/fail gates.",
    no_args_is_help=True,
)

SCENARIO_HELP = (
    "Scenario: " + "; ".join(f"{p.name} = {p.description}" for p in PRESETS.values()) + "."
)


def _warnings_only() -> None:
    # The embedded database and migrations log at INFO; the run has its own progress lines.
    configure_logging("WARNING", get_settings().log_format)


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)


@app.command()
def loadtest(
    scenario: str = typer.Option("basic", envvar="LOAD_TEST_SCENARIO", help=SCENARIO_HELP),
    host: str = typer.Option(
        DEFAULT_HOST,
        envvar="LOAD_TEST_HOST",
        help="Server to test: this machine only (localhost, 127.0.0.0/8, [::1]).",
    ),
    users: int | None = typer.Option(
        None, envvar="LOAD_TEST_USERS", help="Concurrent users (default: the scenario's)."
    ),
    spawn_rate: float | None = typer.Option(
        None,
        envvar="LOAD_TEST_SPAWN_RATE",
        help="Users started per second (default: the scenario's).",
    ),
    run_time: str | None = typer.Option(
        None,
        envvar="LOAD_TEST_RUN_TIME",
        help="Duration such as 90s, 5m, 1h (stress: the hold before the search).",
    ),
    weights: str | None = typer.Option(
        None, envvar="LOAD_TEST_WEIGHTS", help="User mix, e.g. dashboard:3,api:1."
    ),
    max_users: int | None = typer.Option(
        None,
        envvar="LOAD_TEST_MAX_USERS",
        help="Stress: stop the breaking-point search at this many users (default 2000).",
    ),
    max_search_time: str | None = typer.Option(
        None,
        envvar="LOAD_TEST_MAX_SEARCH_TIME",
        help="Stress: stop the search after this long (default 12m).",
    ),
    ceiling_path: str = typer.Option(
        "/api/v1/ping",
        envvar="LOAD_TEST_CEILING_PATH",
        help="Bare endpoint (no database, no cache) measured as the ceiling.",
    ),
    trades: int = typer.Option(
        1_000_000,
        min=1,
        envvar="LOAD_TEST_TRADES",
        help="Dataset size when the run starts its own platform.",
    ),
    seed: int = typer.Option(42, envvar="LOAD_TEST_SEED", help="Seed of that dataset."),
    home: Path | None = typer.Option(
        None,
        envvar="LOAD_TEST_HOME",
        help="Home of the run's own platform (default: a per-user cache directory).",
    ),
    database_url: str | None = typer.Option(
        None,
        help="Database of an already running server, for its connection count "
        "(default: MILKBOT_DATABASE_URL, or the embedded one under MILKBOT_HOME).",
    ),
    results: Path = typer.Option(RESULTS, envvar="LOAD_TEST_RESULTS", help="Results directory."),
    locustfile: Path = typer.Option(
        RESULTS.parent / "locustfile.py", envvar="LOAD_TEST_LOCUSTFILE", help="The locustfile."
    ),
) -> None:
    """Run a load test headless and judge it against the guide's criteria.

    When nothing answers at the host, a private platform (embedded PostgreSQL with a generated
    dataset, and `milkbot serve`) is started for the run and stopped afterwards.
    """
    from milkbot.perf.loadtest import LoadTestError, LoadTestOptions, run_loadtest
    from milkbot.perf.screen import render
    from milkbot.perf.server import PlatformError, default_home

    err = Console(stderr=True)
    try:
        target = check_loopback(host)
        chosen = resolve_scenario(
            scenario,
            users=users,
            spawn_rate=spawn_rate,
            run_time=run_time,
            max_users=max_users,
            max_search_time=max_search_time,
        )
        parse_weights(weights)
    except ScenarioError as exc:
        _fail(str(exc))
        raise typer.Exit(2) from None
    if importlib.util.find_spec("locust") is None:
        _fail("locust is not installed: pip install -e '.[test]'")
        raise typer.Exit(2)
    if not locustfile.is_file():
        _fail(f"no locustfile at {locustfile} (run from the repository root or pass --locustfile)")
        raise typer.Exit(2)
    if not ceiling_path.startswith("/"):
        _fail(f"LOAD_TEST_CEILING_PATH={ceiling_path!r}: must start with /")
        raise typer.Exit(2)
    opts = LoadTestOptions(
        scenario=chosen,
        target=target,
        locustfile=locustfile,
        results=results,
        weights=weights,
        ceiling_path=ceiling_path,
        trades=trades,
        seed=seed,
        home=home or default_home(),
        database_url=database_url,
    )
    install_signal_exit()
    _warnings_only()
    with err.status("starting") as status:
        try:
            run, summary = run_loadtest(
                opts,
                echo=lambda text: err.print(text, markup=False, highlight=False),
                progress=lambda text: status.update(Text(text)),
            )
        except (LoadTestError, PlatformError) as exc:
            _fail(str(exc))
            raise typer.Exit(3) from None
    Console().print(render(summary))
    err.print(
        f"results: {run.out} (report.html, summary.json, Locust's CSVs and scenario.html); "
        f"{results / 'loadtest.json'}"
    )
    if not summary.passed:
        raise typer.Exit(1)


@app.command()
def home() -> None:
    """Print the directory of the load tests' own platform (its database and dataset; delete it
    to reclaim the space). LOAD_TEST_HOME overrides it."""
    import os

    from milkbot.perf.server import default_home

    typer.echo(os.environ.get("LOAD_TEST_HOME") or default_home())


@app.command()
def drill(
    outage_s: float = typer.Option(
        10.0, min=1.0, max=600.0, help="Seconds the database stays down."
    ),
    clients: int = typer.Option(
        8, min=1, max=200, help="Concurrent clients sending requests in a loop."
    ),
    trades: int = typer.Option(
        100_000, min=1000, help="Dataset size (generated once, then reused)."
    ),
    mode: str = typer.Option(
        "fast",
        help="How the database stops: fast (pg_ctl fast shutdown), immediate (pg_ctl "
        "immediate, a crash without checkpoint) or kill (SIGKILL of the postmaster).",
    ),
    before_s: float = typer.Option(
        10.0, min=1.0, max=600.0, help="Seconds of load before the fault."
    ),
    after_s: float = typer.Option(
        15.0, min=2.0, max=600.0, help="Seconds of load after the restart."
    ),
    seed: int = typer.Option(42, help="Seed of the dataset and of the route mix."),
    port: int | None = typer.Option(
        None, min=1, max=65535, help="Port of the drill's server (default: a free one)."
    ),
    home: Path | None = typer.Option(
        None,
        envvar="DRILL_HOME",
        help="Home of the drill's own platform (default: a per-user cache directory).",
    ),
    json_path: Path = typer.Option(
        RESULTS / "drill.json", "--json", help="Where to save the record."
    ),
) -> None:
    """Fault drill: stop the database under load, start it again, and judge the answers.

    Serves a generated database on a private platform (embedded PostgreSQL + `milkbot serve`),
    loads it, writes a few trades, stops the database for --outage-s seconds, restarts it and
    reports requests by phase, the slowest answers, how fast /health noticed and recovered and
    whether any write was lost. Exit 0 when every goal holds, 1 when one fails, 2 for a bad
    option, 3 when the drill could not run.
    """
    import socket

    from milkbot.perf.drill import MODES, DrillError, DrillOptions, render_drill, run_drill
    from milkbot.perf.server import PlatformError

    err = Console(stderr=True)
    if mode not in MODES:
        _fail(f"--mode {mode!r}: use one of {', '.join(MODES)}")
        raise typer.Exit(2)
    if port is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
    opts = DrillOptions(
        home=home or state_dir("milkbot-drill", cache=True),
        port=port,
        outage_s=outage_s,
        before_s=before_s,
        after_s=after_s,
        clients=clients,
        trades=trades,
        seed=seed,
        mode=mode,  # checked against MODES above
    )
    install_signal_exit()
    _warnings_only()
    try:
        record = run_drill(
            opts,
            logs=opts.home / "logs",
            echo=lambda text: err.print(text, markup=False, highlight=False),
        )
    except (DrillError, PlatformError) as exc:
        _fail(str(exc))
        raise typer.Exit(3) from None
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(record.model_dump_json(indent=2) + "\n")
    Console().print(render_drill(record))
    err.print(f"record: {json_path}; server log: {opts.home / 'logs' / 'serve.log'}")
    if not record.passed:
        raise typer.Exit(1)
