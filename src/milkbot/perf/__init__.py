"""Performance tooling: the guide's Locust load tests with pass/fail gates.

- :mod:`~milkbot.perf.scenarios`: the scenarios (smoke, basic, normal, peak, stress), their
  resolution from presets and explicit overrides, and the loopback-only host check;
- :mod:`~milkbot.perf.contract`: what each response must contain (used by the locustfile);
- :mod:`~milkbot.perf.search`: the stress test's breaking-point search over Locust's stats;
- :mod:`~milkbot.perf.resources`: CPU / memory / database-connection sampling during a run;
- :mod:`~milkbot.perf.results`: reading Locust's CSVs and the locustfile's snapshot;
- :mod:`~milkbot.perf.verdict`: the guide's criteria, the verdict and the one-screen summary;
- :mod:`~milkbot.perf.report`: the self-contained HTML report with charts;
- :mod:`~milkbot.perf.platform`: a private platform (dataset + server) when none answers;
- :mod:`~milkbot.perf.loadtest`: the orchestration behind ``milkbot perf loadtest``.

Modules the locustfile imports (scenarios, contract, search) must not import psycopg or start
threads: Locust monkey-patches the process with gevent.
"""
