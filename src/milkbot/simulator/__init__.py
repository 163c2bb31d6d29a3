"""A paper-trading bot that keeps the demo alive: new events, signals, trades, settlements and
heartbeats every few seconds, recorded through the same write path the real bot uses."""

from milkbot.simulator.engine import Bot, CycleReport, Simulator
from milkbot.simulator.runner import SimulatorThread, run_cycles

__all__ = ["Bot", "CycleReport", "Simulator", "SimulatorThread", "run_cycles"]
