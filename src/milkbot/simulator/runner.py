"""Run the simulator in a background thread until asked to stop (what `milkbot up` does)."""

from __future__ import annotations

import threading

import psycopg
import structlog

from milkbot.simulator.engine import Simulator
from milkbot.store.writes import WriteError

log = structlog.get_logger(__name__)


def run_cycles(simulator: Simulator, interval_s: float, stop: threading.Event) -> None:
    """Run a cycle every ``interval_s`` seconds until ``stop`` is set.

    A failed cycle (database restarting, a refused write) is logged and the next one tries again;
    the loop never dies of one bad cycle. The connection is closed on the way out.
    """
    cycles = 0
    try:
        while not stop.is_set():
            try:
                report = simulator.cycle()
                cycles += 1
                if cycles == 1:
                    log.info("simulator_first_cycle", **report.log_fields())
            except (psycopg.Error, WriteError) as exc:
                log.warning("simulator_cycle_failed", error=str(exc))
                simulator.close()
            stop.wait(interval_s)
    finally:
        simulator.close()
        log.info("simulator_stopped", cycles=cycles)


class SimulatorThread:
    """A daemon thread running :func:`run_cycles`; :meth:`stop` ends it cleanly."""

    def __init__(self, simulator: Simulator, interval_s: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=run_cycles,
            args=(simulator, interval_s, self._stop),
            name="milkbot-simulator",
            daemon=True,
        )

    def start(self) -> None:
        """Start cycling in the background."""
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the loop to stop after its current cycle and wait up to ``timeout_s`` seconds."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        """Whether the thread is still running."""
        return self._thread.is_alive()
