"""Measurement: the query benchmarks, the guide's Locust load tests with pass/fail gates, the
fault drill and the release regression gate. Every result is a typed, versioned record
(:mod:`~milkbot.perf.records`) that the gate (:mod:`~milkbot.perf.gate`) reads;
``milkbot perf loadtest`` starts in :mod:`~milkbot.perf.loadtest`.

Modules the locustfile imports (scenarios, contract, search, histograms, records) must not
import psycopg or start threads: Locust monkey-patches the process with gevent.
"""
