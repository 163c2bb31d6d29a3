"""`milkbot up` and `milkbot serve`: the database, then the web server on :8501.

`up` is the demo: it loads about a year of data into an empty database, creates (once) a
live-looking demo account and three paper bots with different strategies, runs them in the
paper-trading simulator beside the server, so the dashboard moves, and serves the demo account
as the primary one (unless MILKBOT_PRIMARY_ACCOUNT says otherwise, or the simulator is off). `serve` is for a database
that something else fills: no demo data, no simulator.

Both claim the port before anything else starts: the host is resolved and a listening socket
bound *exclusively* (SO_REUSEADDR for restarts over TIME_WAIT, never SO_REUSEPORT), so a port
in use, by another Milkbot or any program, is one line and a non-zero exit with no database
started. Granian 2.8 binds every worker socket with SO_REUSEPORT and has no option to turn it
off, which let a second server bind beside the first; so the web workers do not bind at all:
they inherit this one socket (see ``_server_class``) and nothing can join it.
"""

from __future__ import annotations

import errno
import ipaddress
import multiprocessing
import os
import socket
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import psycopg
import typer

from milkbot import money
from milkbot.cli.common import database, get_settings
from milkbot.settings import Settings
from milkbot.store.models import AccountMode, Environment
from milkbot.words import plural

if TYPE_CHECKING:
    from milkbot.simulator import Bot

# Pending connections the kernel queues on the port (granian's default backlog, kept).
BACKLOG = 1024


class StartError(Exception):
    """The server cannot start where it was asked to; the one-line message says what to fix."""


def resolve_host(host: str, port: int) -> str:
    """The IP address to bind for ``host`` (MILKBOT_HOST / --host). An IPv4 or IPv6 literal is
    kept as it is (``0.0.0.0``, ``::1``); a name is resolved here, at start, preferring IPv4, so
    ``localhost`` binds 127.0.0.1 (granian accepts only addresses). Raises :class:`StartError`
    naming MILKBOT_HOST when the name does not resolve."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StartError(
            f"MILKBOT_HOST={host!r} (--host) does not resolve to an address ({reason}): "
            "give an IP address such as 127.0.0.1 or a name this machine resolves"
        ) from None
    addresses = [str(info[4][0]) for info in infos]
    ipv4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
    return (ipv4 or addresses)[0]


def bind_listener(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (``host`` as given to :func:`resolve_host`)
    that no other socket can share, or :class:`StartError` with one line naming the host and
    port and what to change (--port / MILKBOT_PORT, --host / MILKBOT_HOST)."""
    address = resolve_host(host, port)
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Rebinding over connections in TIME_WAIT after a restart is fine; SO_REUSEADDR on Linux
        # never lets a second socket bind beside a listening one (SO_REUSEPORT would).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise StartError(_bind_message(host, address, port, exc)) from None
    return sock


def _bind_message(host: str, address: str, port: int, exc: OSError) -> str:
    where = f"{address}:{port}" if host == address else f"{host} ({address}) port {port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"{where} is already in use (another milkbot or another program): "
            "stop it, or choose a free port with --port / MILKBOT_PORT"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on {where}: not an address of this machine; "
            "set --host / MILKBOT_HOST to one of its addresses (e.g. 127.0.0.1 or 0.0.0.0)"
        )
    if exc.errno == errno.EACCES:
        return (
            f"cannot listen on {where}: permission denied (ports below 1024 need privileges); "
            "choose another port with --port / MILKBOT_PORT"
        )
    return f"cannot listen on {where}: {exc.strerror or exc}"


def _server_class() -> type[Any]:
    # Imported late: granian is only needed by the commands that serve.
    from granian._granian import SocketHolder
    from granian.server import MPServer

    class HeldSocketServer(MPServer):  # type: ignore[misc]
        """Granian's process server, serving the socket :func:`bind_listener` holds.

        On Linux granian 2.8 binds a new SO_REUSEPORT socket in every worker; its macOS path
        instead builds one socket in the main process and the forked workers accept on it. This
        class takes that path with our socket, so the port stays exclusive for the server's
        life. It relies on granian's ``_init_shared_socket`` hook and ``_ssp`` / ``_shd`` /
        ``_sfd`` / ``_sso`` fields (granian 2.8); tests/test_serve_lifecycle.py fails if a
        granian release changes them."""

        def __init__(self, listener: socket.socket, **options: Any) -> None:
            super().__init__(**options)
            self._listener = listener

        def _init_shared_socket(self) -> None:
            fd = self._listener.fileno()
            self._ssp = None  # no per-worker bind
            # The stub omits the constructor: (fd, is_uds, backlog) on Linux.
            self._shd = SocketHolder(fd, False, self.backlog)  # type: ignore[call-arg]
            self._sfd = fd
            # Granian closes _sso at shutdown; the workers got their copy of the fd by fork.
            self._sso = self._listener

    return HeldSocketServer


def _run_server(url: str, settings: Settings, listener: socket.socket) -> None:
    from granian.constants import Interfaces

    # Web workers are separate processes: they find the database through the environment.
    os.environ["MILKBOT_DATABASE_URL"] = url
    os.environ["MILKBOT_HOST"] = settings.host
    os.environ["MILKBOT_PORT"] = str(settings.port)
    os.environ["MILKBOT_PRIMARY_ACCOUNT"] = settings.primary_account
    # The workers must inherit the listening socket: forked, not spawned (Python 3.14 would
    # otherwise pick forkserver on Linux and granian fall back to spawn).
    multiprocessing.set_start_method("fork", force=True)
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"serving on http://{shown}:{port}  (Ctrl-C stops)")
    _server_class()(
        listener,
        target="milkbot.web.app:create_app_from_env",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        backlog=BACKLOG,
        log_access=False,
    ).serve()


def _listen(settings: Settings) -> socket.socket:
    try:
        return bind_listener(settings.host, settings.port)
    except StartError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def _has_data(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM ops.markets)").fetchone()
    return bool(row and row[0])


def _load_demo(url: str, settings: Settings) -> None:
    from milkbot.generator import generate_dataset

    typer.echo(
        f"empty database: generating ~{plural(settings.demo_trades, 'demo trade')} (about a year)"
    )
    report = generate_dataset(
        url,
        trades=settings.demo_trades,
        seed=42,
        bankroll_cents=settings.starting_bankroll_cents,
    )
    typer.echo(f"demo data loaded in {report.total_seconds:.1f}s")


# The account `up` serves as the primary one (the dashboard's default).
DEMO_ACCOUNT = "demo"


@dataclass(frozen=True, slots=True)
class UpAccount:
    """An account `milkbot up` creates (once) and the simulator trades: its name, display
    name, mode and environment, starting bankroll (None: MILKBOT_STARTING_BANKROLL_CENTS), its
    one strategy, and how busy its bot is."""

    name: str
    display_name: str
    mode: AccountMode
    environment: Environment
    bankroll_dollars: Decimal | None
    strategy: str
    cities_per_cycle: int
    max_buys_per_cycle: int
    description: str


UP_ACCOUNTS = (
    UpAccount(
        DEMO_ACCOUNT,
        "Demo bot",
        "demo",
        "demo",
        None,
        "daily_high_temp",
        2,
        2,
        "The original model trading Kalshi's demo exchange, as the live bot would.",
    ),
    UpAccount(
        "paper_reversion",
        "Paper: mean reversion",
        "demo",
        "simulated",
        Decimal("500.00"),
        "mean_reversion",
        2,
        1,
        "Paper bot fading forecasts that stray from climatology.",
    ),
    UpAccount(
        "paper_nowcast",
        "Paper: nowcast",
        "demo",
        "simulated",
        Decimal("750.00"),
        "nowcast",
        2,
        2,
        "Paper bot following the day's observed temperatures.",
    ),
    UpAccount(
        "replay_ensemble",
        "Replay: ensemble",
        "replay",
        "simulated",
        Decimal("1000.00"),
        "ensemble",
        3,
        1,
        "The blended model replayed against the simulated markets.",
    ),
)


def ensure_up_accounts(url: str, settings: Settings) -> list[str]:
    """Create `up`'s accounts that do not exist yet (an existing one is left as it is, with
    any change an operator made); return the names created."""
    from milkbot.store.accounts import AccountIn, create_account
    from milkbot.store.limits import account_named

    created = []
    with psycopg.connect(url, autocommit=True) as conn:
        for a in UP_ACCOUNTS:
            bankroll = a.bankroll_dollars or money.to_dollars(
                settings.starting_bankroll_cents * money.CENT_MICROS
            )
            before = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM ops.accounts WHERE name = %s)", [a.name]
            ).fetchone()
            create_account(
                conn,
                AccountIn(
                    name=a.name,
                    display_name=a.display_name,
                    mode=a.mode,
                    environment=a.environment,
                    starting_bankroll_dollars=bankroll,
                    strategies=(a.strategy,),
                    description=a.description,
                ),
                exist_ok=True,
            )
            if before is not None and not before[0]:
                created.append(a.name)
        account_named(conn, settings.primary_account)  # the primary account must exist
    return created


def _primary_exists(url: str, settings: Settings) -> None:
    from milkbot.store.limits import account_named

    with psycopg.connect(url, autocommit=True) as conn:
        account_named(conn, settings.primary_account)


def up_bots() -> list[Bot]:
    """The simulator's bots for `up`'s accounts."""
    from milkbot.simulator import Bot

    return [Bot(a.name, a.strategy, a.max_buys_per_cycle, a.cities_per_cycle) for a in UP_ACCOUNTS]


HostOpt = typer.Option(
    None, "--host", help="Address or host name to bind (MILKBOT_HOST; localhost = 127.0.0.1)."
)
PortOpt = typer.Option(None, "--port", min=1, max=65535, help="Port (MILKBOT_PORT).")
WorkersOpt = typer.Option(None, "--workers", min=1, max=64, help="Worker processes.")
SimulatorOpt = typer.Option(
    None,
    "--simulator/--no-simulator",
    help="Run the paper-trading simulator beside the server (MILKBOT_SIMULATOR; default on).",
)


def up(
    host: str | None = HostOpt,
    port: int | None = PortOpt,
    workers: int | None = WorkersOpt,
    simulator: bool | None = SimulatorOpt,
) -> None:
    """Start everything: database (embedded unless MILKBOT_DATABASE_URL), migrations, demo data
    when the database is empty, the demo account and three paper bots (created once), the
    paper-trading simulator running them, and the dashboard/API on http://127.0.0.1:8501
    showing the demo account (MILKBOT_PRIMARY_ACCOUNT to show another; without the simulator,
    MILKBOT_PRIMARY_ACCOUNT's account, `default` unless set)."""
    from milkbot.simulator import Simulator, SimulatorThread
    from milkbot.store.errors import WriteError

    settings = get_settings(host=host, port=port, workers=workers, simulator=simulator)
    if settings.simulator and "MILKBOT_PRIMARY_ACCOUNT" not in os.environ:
        # The demo account is what the simulator keeps moving: the dashboard shows it.
        settings = settings.model_copy(update={"primary_account": DEMO_ACCOUNT})
    with _listen(settings) as listener, database(settings) as url:
        if not _has_data(url):
            _load_demo(url, settings)
        try:
            created = ensure_up_accounts(url, settings) if settings.simulator else []
            if not settings.simulator:
                _primary_exists(url, settings)
        except WriteError as exc:
            typer.secho(
                f"{exc.message}: set MILKBOT_PRIMARY_ACCOUNT to an existing account "
                "(milkbot accounts list) or create it (milkbot accounts create)",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(1) from None
        if created:
            typer.echo(f"created {plural(len(created), 'account')}: {', '.join(created)}")
        typer.echo(f"primary account: {settings.primary_account}")
        thread = None
        if settings.simulator:
            sim = Simulator(
                url,
                bots=up_bots(),
                cities_per_cycle=1,
                heartbeat_max_skew_s=settings.heartbeat_max_skew_s,
            )
            # A daemon thread: it never keeps the process alive once the server has stopped.
            thread = SimulatorThread(sim, settings.simulator_interval)
            thread.start()
            typer.echo(f"paper-trading simulator: a cycle every {settings.simulator_interval:g}s")
        try:
            _run_server(url, settings, listener)
        finally:
            if thread is not None:
                thread.stop()


def serve(
    host: str | None = HostOpt,
    port: int | None = PortOpt,
    workers: int | None = WorkersOpt,
) -> None:
    """Serve a database that something else fills: like `up`, without the demo data and the
    simulator."""
    settings = get_settings(host=host, port=port, workers=workers)
    with _listen(settings) as listener, database(settings) as url:
        _run_server(url, settings, listener)
