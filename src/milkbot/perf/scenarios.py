"""The load-test scenarios of the guide, and how a run's settings are resolved.

A scenario is a preset (users, spawn rate, duration, P95 target); any value given explicitly
(``LOAD_TEST_USERS`` and friends, or the matching ``milkbot perf loadtest`` flag) overrides the
preset. Load tests only ever target this machine: :func:`check_loopback` refuses any other host.

This module is imported by the locustfile (gevent-patched), so it stays free of I/O.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

DEFAULT_HOST = "http://localhost:8501"
DEFAULT_WEIGHTS: dict[str, int] = {"dashboard": 3, "api": 1}
USER_KINDS = ("dashboard", "api")


class ScenarioError(ValueError):
    """A load-test setting has a bad value; the message names the variable to fix."""


@dataclass(frozen=True)
class StressPlan:
    """The breaking-point search that follows the stress scenario's hold: every ``step_s``
    seconds ``step_users`` more users, until the window P95 exceeds ``p95_limit_ms`` or the
    window error rate exceeds ``error_limit`` (a fraction), capped at ``max_users`` users and
    ``max_search_s`` seconds so that the search always ends."""

    step_users: int = 100
    step_s: float = 30.0
    max_users: int = 2000
    max_search_s: float = 720.0
    p95_limit_ms: float = 500.0
    error_limit: float = 0.001


@dataclass(frozen=True)
class Scenario:
    """One load test: ``users`` concurrent users started at ``spawn_rate`` per second, measured
    for ``run_time_s`` seconds (for stress: the hold before the breaking-point search), judged
    against a P95 target of ``p95_target_ms``. ``phase_s`` / ``phase_users`` size the two short
    no-think-time phases (bare-endpoint ceiling, mixed capacity) that precede the run."""

    name: str
    purpose: str
    users: int
    spawn_rate: float
    run_time_s: float
    p95_target_ms: float = 500.0
    phase_s: float = 15.0
    phase_users: int = 16
    stress: StressPlan | None = None

    @property
    def description(self) -> str:
        """What this run does, from its effective values (an overridden preset says what ran,
        not what the preset would have run)."""
        text = (
            f"{self.purpose}: {self.users} {'user' if self.users == 1 else 'users'} "
            f"started at {self.spawn_rate:g}/s, measured for {format_duration(self.run_time_s)}, "
            f"P95 target {self.p95_target_ms:g} ms"
        )
        if self.stress is not None:
            text += (
                f", then a breaking-point search up to {self.stress.max_users} users "
                f"({format_duration(self.stress.max_search_s)} at most)"
            )
        return text


PRESETS: dict[str, Scenario] = {
    p.name: p
    for p in (
        # name, purpose, users, spawn rate (users/s), run time (s)
        Scenario("smoke", "CI gate", 20, 10, 25, phase_s=5),
        Scenario("basic", "the guide's basic load test", 100, 10, 300),
        Scenario("normal", "guide scenario 1, normal load", 50, 10, 300),
        Scenario("peak", "guide scenario 2, peak load", 100, 10, 600, p95_target_ms=1000.0),
        Scenario("stress", "guide scenario 3, stress", 200, 20, 900, stress=StressPlan()),
    )
}
DEFAULT_SCENARIO = "basic"

_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s?)?$")


def parse_duration(text: str, setting: str = "LOAD_TEST_RUN_TIME") -> float:
    """Seconds in a Locust-style duration: ``300``, ``90s``, ``5m``, ``1h30m``, ``2m30s``."""
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or match is None or not any(match.groupdict().values()):
        raise ScenarioError(f"{setting}={text!r}: expected a duration like 90s, 5m or 1h30m")
    parts = match.groupdict()
    seconds = int(parts["h"] or 0) * 3600 + int(parts["m"] or 0) * 60 + float(parts["s"] or 0.0)
    if seconds <= 0:
        raise ScenarioError(f"{setting}={text!r}: must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """``5m``, ``1h30m``, ``25s``, ``2m30s``: the inverse of :func:`parse_duration`."""
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return text or "0s"


def resolve_scenario(
    name: str | None = None,
    *,
    users: int | None = None,
    spawn_rate: float | None = None,
    run_time: str | None = None,
    max_users: int | None = None,
    max_search_time: str | None = None,
) -> Scenario:
    """The scenario ``name`` (default: the guide's basic 100-user run) with every explicitly
    given value replacing the preset's. Raises :class:`ScenarioError` naming the bad setting."""
    key = (name or DEFAULT_SCENARIO).strip().lower()
    if key not in PRESETS:
        known = " | ".join(PRESETS)
        raise ScenarioError(f"LOAD_TEST_SCENARIO={name!r}: expected one of {known}")
    scenario = PRESETS[key]
    if users is not None:
        if users < 1:
            raise ScenarioError(f"LOAD_TEST_USERS={users}: must be at least 1")
        scenario = replace(scenario, users=users)
    if spawn_rate is not None:
        if spawn_rate <= 0:
            raise ScenarioError(f"LOAD_TEST_SPAWN_RATE={spawn_rate}: must be above zero")
        scenario = replace(scenario, spawn_rate=spawn_rate)
    if run_time is not None:
        scenario = replace(scenario, run_time_s=parse_duration(run_time))
    if scenario.stress is not None:
        plan = scenario.stress
        if max_users is not None:
            if max_users <= scenario.users:
                raise ScenarioError(
                    f"LOAD_TEST_MAX_USERS={max_users}: must exceed the {scenario.users} users "
                    "the search starts from"
                )
            plan = replace(plan, max_users=max_users)
        if max_search_time is not None:
            plan = replace(
                plan, max_search_s=parse_duration(max_search_time, "LOAD_TEST_MAX_SEARCH_TIME")
            )
        scenario = replace(scenario, stress=plan)
    return scenario


def parse_weights(text: str | None) -> dict[str, int]:
    """User-class weights from ``LOAD_TEST_WEIGHTS`` such as ``dashboard:3,api:1`` (kinds not
    named keep their default; weight 0 leaves a kind out; at least one must stay)."""
    weights = dict(DEFAULT_WEIGHTS)
    if not text or not text.strip():
        return weights
    for item in text.split(","):
        kind, sep, value = item.partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in USER_KINDS or not value.strip().isdigit():
            raise ScenarioError(
                f"LOAD_TEST_WEIGHTS={text!r}: expected kind:weight pairs such as "
                f"dashboard:3,api:1 (kinds: {', '.join(USER_KINDS)})"
            )
        weights[kind] = int(value)
    if not any(weights.values()):
        raise ScenarioError(f"LOAD_TEST_WEIGHTS={text!r}: at least one weight must be above 0")
    return weights


@dataclass(frozen=True)
class Target:
    """A loopback base URL split into what the runner needs."""

    url: str
    host: str
    port: int


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """``host`` as an address, or every address its name resolves to (none if it does not)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def check_loopback(url: str) -> Target:
    """Accept only this machine as a load-test target: ``localhost``, 127.0.0.0/8, ``[::1]``, or
    a name that resolves to loopback addresses only (``/etc/hosts``' name of this machine).

    Load tests send thousands of requests; pointed at someone else's server they are an attack.
    Raises :class:`ScenarioError` with the reason for anything else (including ``0.0.0.0``,
    look-alike names such as ``localhost.example.com``, credentials in the URL or a path).
    """
    refuse = (
        f"LOAD_TEST_HOST={url!r}: load tests only run against this machine; use "
        "http://localhost:PORT, http://127.0.0.1:PORT (any 127.0.0.0/8) or http://[::1]:PORT"
    )
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ScenarioError(f"{refuse} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ScenarioError(refuse)
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query:
        raise ScenarioError(f"{refuse} (give only scheme, host and port)")
    host = parts.hostname.lower()
    addresses = _addresses(host)
    if host != "localhost" and not (addresses and all(a.is_loopback for a in addresses)):
        raise ScenarioError(refuse)
    port = port or (443 if parts.scheme == "https" else 80)
    netloc = f"[{host}]" if ":" in host else host
    return Target(url=f"{parts.scheme}://{netloc}:{port}", host=host, port=port)
