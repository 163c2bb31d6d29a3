"""Measurement: the query benchmarks, the guide's Locust load tests with pass/fail gates, the
fault drill and the release regression gate.

- :mod:`~milkbot.perf.records`: the results format (frozen, typed, versioned records) that every
  benchmark and load test writes and the gate reads; :mod:`~milkbot.perf.legacy` converts files
  written before it; :mod:`~milkbot.perf.query_text` is the query record as the guide's text;
- :mod:`~milkbot.perf.environment`: the description of the machine and of the dataset;
- query benchmarks: :mod:`~milkbot.perf.datasets` (generated databases),
  :mod:`~milkbot.perf.query_bench` (the calls and the one timing loop),
  :mod:`~milkbot.perf.fingerprint` (of the analytics outputs), :mod:`~milkbot.perf.profiling`
  (``python -m milkbot.analytics``, the profilers' entry);
- load tests: :mod:`~milkbot.perf.scenarios` (scenarios and the loopback-only host check),
  :mod:`~milkbot.perf.contract` (what each response must contain), :mod:`~milkbot.perf.search`
  (the breaking-point search), :mod:`~milkbot.perf.histograms` (Locust's counters per window),
  :mod:`~milkbot.perf.locust_output` (reading what Locust wrote), :mod:`~milkbot.perf.resources`
  (CPU / memory / connection sampling), :mod:`~milkbot.perf.server` (the server under test and
  a private platform when none answers), :mod:`~milkbot.perf.verdict` (the guide's criteria),
  :mod:`~milkbot.perf.judge` (a run judged into its summary), :mod:`~milkbot.perf.screen` and
  :mod:`~milkbot.perf.report` (the one-screen text and the HTML report with charts),
  :mod:`~milkbot.perf.loadtest` (the orchestration behind ``milkbot perf loadtest``);
- :mod:`~milkbot.perf.drill` (the database fault drill) and :mod:`~milkbot.perf.gate` (the
  release regression gate).

Modules the locustfile imports (scenarios, contract, search, histograms, records) must not
import psycopg or start threads: Locust monkey-patches the process with gevent.
"""
