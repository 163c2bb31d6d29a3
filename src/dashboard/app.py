"""The guide's ``python -m cProfile -o profile.stats src/dashboard/app.py``: the dashboard and
JSON API served by this one foreground process (uvicorn, no worker processes), so a profiler
started with it sees every request's handling. Browse or load-test it, then Ctrl-C (or SIGTERM):
the server stops and cProfile writes its file. Settings as for ``milkbot serve`` (database,
MILKBOT_HOST / MILKBOT_PORT); for running the platform use ``milkbot up`` or ``milkbot serve``.
A plain script, not a package.
"""

import contextlib
import sys


def main() -> int:
    """Serve until interrupted; the exit status (2 for a bad setting, 1 when the database or
    the port cannot be had)."""
    import typer
    import uvicorn

    from milkbot.cli.common import database, get_settings
    from milkbot.web.app import create_app

    try:
        settings = get_settings()
        with database(settings) as url:
            print(
                f"serving on http://{settings.host}:{settings.port} in this one process for a "
                "profiler; Ctrl-C stops",
                file=sys.stderr,
            )
            config = uvicorn.Config(
                create_app(settings, url),
                host=settings.host,
                port=settings.port,
                log_level="warning",
                access_log=False,
            )
            server = uvicorn.Server(config)
            # uvicorn re-raises the Ctrl-C it shut down on; here that is the normal end.
            with contextlib.suppress(KeyboardInterrupt):
                server.run()
            return 0 if server.started else 1
    except typer.Exit as exc:
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
