"""The results format: every record survives a JSON round trip, and the files written before it
(real ones, kept in tests/performance/old_formats, written by the code that preceded the records)
convert once, through the gate, into records that say the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from milkbot.cli.main import app
from milkbot.perf.gate import load_run, read_record
from milkbot.perf.legacy import convert
from milkbot.perf.records import LoadTestResults, LoadTestSummary, QueryBenchmark

OLD_FORMATS = Path(__file__).parent / "performance" / "old_formats"


def old(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((OLD_FORMATS / name).read_text())


def test_every_record_reads_back_equal(tmp_path: Path) -> None:
    records = [convert(old(name)) for name in ("current.json", "bench.json", "loadtest.json")]
    loadtest = records[-1]
    assert isinstance(loadtest, LoadTestResults)
    for record in [*records, loadtest.scenarios["stress"]]:
        path = tmp_path / "record.json"
        record.write(path)
        assert type(record).read(path) == record
        assert json.loads(path.read_text())["schema_version"] == 1


def test_the_query_tests_old_json_says_what_its_text_says() -> None:
    record = convert(old("current.json"))
    assert isinstance(record, QueryBenchmark)
    text, _ = read_record(OLD_FORMATS / "current.txt")
    assert isinstance(text, QueryBenchmark)
    assert record.dataset.model_copy(update={"database_mb": None}) == text.dataset
    assert record.fingerprint == text.fingerprint == old("current.json")["fingerprint"]
    assert record.machine.cpu == text.machine.cpu and record.machine.cores == text.machine.cores
    for name, q in record.queries.items():
        assert (round(q.p50, 3), round(q.p95, 3), q.status) == (
            text.queries[name].p50,
            text.queries[name].p95,
            text.queries[name].status,
        )
        assert q.n == old("current.json")["queries"][name]["n"]


def test_the_old_bench_json_keeps_naive_floor_and_growth() -> None:
    data = old("bench.json")
    record = convert(data)
    assert isinstance(record, QueryBenchmark)
    assert record.dataset.trades == data["database"]["trades"] and record.dataset.seed == 42
    assert record.queries["city_metrics"].p95 == data["ours"]["city_metrics"]["p95"]
    assert record.naive["city_metrics"].p50 == data["naive"]["city_metrics"]["p50"]
    assert record.floor is not None and record.floor.n == data["floor"]["n"]
    assert record.growth is not None and record.growth.trades == data["baseline"]["trades"]
    assert record.fingerprint is None


def test_the_old_load_test_summary_keeps_its_figures() -> None:
    data = old("loadtest.json")
    record = convert(data)
    assert isinstance(record, LoadTestResults)
    for name, s in record.scenarios.items():
        was = data["scenarios"][name]
        assert isinstance(s, LoadTestSummary)
        assert s.machine.cpu == was["machine"]["cpu_model"]
        assert s.machine.cores == was["machine"]["cpus"]
        assert s.dataset is not None and s.dataset.trades == was["data"]["trades"]
        assert s.total.requests == was["requests"] and s.total.p95_ms == was["p95_ms"]
        assert s.resources.app_rss_max_mb == was["resources"]["app_rss_max_mb"]
        assert [c.name for c in s.checks] == [c["name"] for c in was["checks"]]
        assert s.server.pool_capacity == was["server"]["pool_capacity"]
    stress = record.scenarios["stress"].stress
    assert stress is not None and stress.breaking_point is not None
    assert (stress.breaking_point.users, stress.hold_users, stress.plan.step_users) == (
        700,
        200,
        100,
    )
    assert stress.broke_first is not None and stress.broke_first.route == "/api/v1/trades/public"
    assert stress.stages[0].server_cpu_avg_pct == 41.5


def test_the_gate_converts_an_old_baseline_once_and_says_so(tmp_path: Path) -> None:
    for name in ("current.json", "current.txt", "loadtest.json"):
        shutil.copyfile(OLD_FORMATS / name, tmp_path / name)
    baseline, current = tmp_path / "current.json", tmp_path / "current.txt"
    runner = CliRunner()
    first = runner.invoke(app, ["perf", "compare", str(baseline), str(current)])
    assert first.exit_code == 0, first.output
    assert "old results format: converted once" in first.output
    assert json.loads(baseline.read_text())["schema_version"] == 1
    again = runner.invoke(app, ["perf", "compare", str(baseline), str(current)])
    assert again.exit_code == 0 and "old results format" not in again.output
    loadtest = tmp_path / "loadtest.json"
    assert load_run(loadtest).converted
    assert not load_run(loadtest).converted
    assert set(LoadTestResults.read(loadtest).scenarios) == {"smoke", "stress"}
