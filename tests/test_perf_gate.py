"""The release gate on crafted result records: passes, fails per criterion, refuses unlike runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from milkbot.cli.main import app
from milkbot.perf.gate import RefusedError, compare, load_run
from milkbot.perf.legacy import convert
from milkbot.perf.query_text import QueryTextError, parse_query_text, render_query_text
from milkbot.perf.records import (
    Dataset,
    LoadTestResults,
    Machine,
    QueryBenchmark,
    QueryFigures,
)

OLD_FORMATS = Path(__file__).parent / "performance" / "old_formats"
MACHINE = Machine(cpu="Xeon", cores=2, memory_gib=23.5, os="Linux", load_average=(1, 1, 1))
DATASET = Dataset(
    postgres="18.6",
    trades=1_000_000,
    seed=42,
    signals_estimate=2_000_000,
    markets_estimate=55_000,
    first_day="2023-07-01",  # type: ignore[arg-type]  # pydantic parses it
    last_day="2026-06-30",  # type: ignore[arg-type]
)


def queries_record(
    *, machine: Machine = MACHINE, dataset: Dataset = DATASET, fingerprint: str = "abc123",
    **per_query: tuple[float, float],
) -> QueryBenchmark:  # fmt: skip
    return QueryBenchmark(
        machine=machine,
        dataset=dataset,
        fingerprint=fingerprint,
        queries={
            name: QueryFigures(
                p50=p50, p95=p95, p99=p95, target_ms=100.0, critical_ms=200.0, status="ok"
            )
            for name, (p50, p95) in per_query.items()
        },
    )


def load_record(p95: float = 30.0, error_rate: float = 0.0, rss: float = 200.0) -> LoadTestResults:
    """The real load-test summary kept in the old format (tests/performance/old_formats), with
    the figures the gate compares replaced."""
    old = convert(json.loads((OLD_FORMATS / "loadtest.json").read_text()))
    assert isinstance(old, LoadTestResults)
    s = old.scenarios["smoke"]
    total = s.total.model_copy(update={"p95_ms": p95, "error_rate": error_rate})
    resources = s.resources.model_copy(update={"app_rss_max_mb": rss})
    normal = s.model_copy(update={"scenario": "normal", "total": total, "resources": resources})
    return LoadTestResults(scenarios={"normal": normal})


def write(tmp_path: Path, name: str, record: QueryBenchmark | LoadTestResults) -> Path:
    path = tmp_path / name
    record.write(path)
    return path


def verdicts(base: Any, cur: Any, tmp_path: Path) -> dict[str, str]:
    rows = compare(
        load_run(write(tmp_path, "b.json", base)), load_run(write(tmp_path, "c.json", cur))
    )
    return {r.name: r.verdict for r in rows}


def test_same_figures_pass(tmp_path: Path) -> None:
    base = queries_record(city_metrics=(2.0, 4.0))
    assert set(verdicts(base, base, tmp_path).values()) == {"ok"}


def test_a_query_more_than_20_percent_slower_fails(tmp_path: Path) -> None:
    base = queries_record(city_metrics=(10.0, 20.0), equity_curve=(5.0, 8.0))
    cur = queries_record(city_metrics=(12.5, 20.0), equity_curve=(5.9, 9.5))
    v = verdicts(base, cur, tmp_path)
    assert v["query city_metrics P50"] == "FAIL"  # +25%, 2.5 ms
    assert v["query equity_curve P50"] == "ok"  # +18%
    assert v["query equity_curve P95"] == "ok"  # +19%


def test_sub_millisecond_noise_never_fails(tmp_path: Path) -> None:
    v = verdicts(queries_record(health=(1.0, 2.0)), queries_record(health=(1.5, 2.9)), tmp_path)
    assert v["query health P50"] == "ok" and v["query health P95"] == "ok"


def test_load_p95_error_rate_and_memory(tmp_path: Path) -> None:
    base = load_record()
    assert set(verdicts(base, load_record(p95=37.0), tmp_path).values()) == {"FAIL", "ok"}
    assert verdicts(base, load_record(p95=37.0), tmp_path)["normal P95"] == "FAIL"
    assert verdicts(base, load_record(p95=35.0), tmp_path)["normal P95"] == "ok"
    assert verdicts(base, load_record(error_rate=0.006), tmp_path)["normal error rate"] == "FAIL"
    assert verdicts(base, load_record(error_rate=0.004), tmp_path)["normal error rate"] == "ok"
    assert verdicts(base, load_record(rss=241.0), tmp_path)["normal server memory"] == "FAIL"
    assert verdicts(base, load_record(rss=239.0), tmp_path)["normal server memory"] == "ok"


def test_changed_results_fail_even_when_faster(tmp_path: Path) -> None:
    base = queries_record(city_metrics=(10.0, 20.0))
    cur = queries_record(city_metrics=(1.0, 2.0), fingerprint="def456")
    v = verdicts(base, cur, tmp_path)
    assert v["analytics results fingerprint"] == "FAIL"


@pytest.mark.parametrize(
    "unlike",
    [
        {"dataset": DATASET.model_copy(update={"postgres": "15.19"})},
        {"dataset": DATASET.model_copy(update={"trades": 100_000})},
        {"machine": MACHINE.model_copy(update={"cores": 8})},
    ],
)
def test_unlike_runs_are_refused(tmp_path: Path, unlike: dict[str, Any]) -> None:
    base = queries_record(city_metrics=(1.0, 2.0))
    cur = base.model_copy(update=unlike)
    with pytest.raises(RefusedError, match="not alike"):
        compare(load_run(write(tmp_path, "b.json", base)), load_run(write(tmp_path, "c.json", cur)))


def test_the_load_average_does_not_make_runs_unlike(tmp_path: Path) -> None:
    base = queries_record(city_metrics=(1.0, 2.0))
    busy = base.model_copy(update={"machine": MACHINE.model_copy(update={"load_average": None})})
    assert set(verdicts(base, busy, tmp_path).values()) == {"ok"}


def test_query_and_load_files_are_not_compared(tmp_path: Path) -> None:
    with pytest.raises(RefusedError, match="cannot compare"):
        compare(
            load_run(write(tmp_path, "b.json", queries_record(a=(1, 1)))),
            load_run(write(tmp_path, "c.json", load_record())),
        )


def test_a_file_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "b.json", queries_record(a=(1, 1)))
    path.write_text(path.read_text().replace('"schema_version": 1', '"schema_version": 2'))
    with pytest.raises(RefusedError, match="schema_version"):
        load_run(path)


def test_cli_exit_codes_and_accept(tmp_path: Path) -> None:
    runner = CliRunner()
    base = write(tmp_path, "baseline.json", queries_record(city_metrics=(10.0, 20.0)))
    slow = write(tmp_path, "slow.json", queries_record(city_metrics=(15.0, 30.0)))
    same = write(tmp_path, "current.json", queries_record(city_metrics=(10.1, 19.0)))
    (tmp_path / "current.txt").write_text("summary\n")
    assert runner.invoke(app, ["perf", "compare", str(base), str(same)]).exit_code == 0
    result = runner.invoke(app, ["perf", "compare", str(base), str(slow)])
    assert result.exit_code == 1 and "REGRESSION" in result.output
    pg15 = DATASET.model_copy(update={"postgres": "15.1"})
    other = write(tmp_path, "pg15.json", queries_record(dataset=pg15, city_metrics=(1, 1)))
    assert runner.invoke(app, ["perf", "compare", str(base), str(other)]).exit_code == 2
    # accept refuses a worse run, promotes a good one (and its .txt for the guide's diff)
    assert runner.invoke(app, ["perf", "accept", str(slow), "--baseline", str(base)]).exit_code == 1
    assert QueryBenchmark.read(base).queries["city_metrics"].p50 == 10.0
    assert runner.invoke(app, ["perf", "accept", str(same)]).exit_code == 0
    assert QueryBenchmark.read(base).queries["city_metrics"].p50 == 10.1
    assert (tmp_path / "baseline.txt").read_text() == "summary\n"


def test_the_text_record_reads_back_as_written() -> None:
    record = queries_record(city_metrics=(1.234, 5.678), equity_curve=(2.0, 4.5))
    text = render_query_text(record)
    back = parse_query_text(text)
    assert back.queries == record.queries
    assert back.dataset == record.dataset
    assert back.fingerprint == record.fingerprint
    assert back.machine == record.machine.model_copy(update={"load_average": None})
    with pytest.raises(QueryTextError, match="line 3"):
        parse_query_text(text.replace("cores: 2", "cores 2"))


def test_the_guides_cp_of_current_txt_promotes_what_the_gate_compares(tmp_path: Path) -> None:
    # The guide: diff baseline.txt current.txt, then cp current.txt baseline.txt.
    base = queries_record(city_metrics=(2.0, 4.0))
    slower = queries_record(city_metrics=(2.0, 9.0))
    (tmp_path / "baseline.txt").write_text(render_query_text(base))
    (tmp_path / "current.txt").write_text(render_query_text(slower))
    runner = CliRunner()
    paths = [str(tmp_path / "baseline.txt"), str(tmp_path / "current.txt")]
    assert runner.invoke(app, ["perf", "compare", *paths]).exit_code == 1
    (tmp_path / "baseline.txt").write_text((tmp_path / "current.txt").read_text())  # the cp
    assert runner.invoke(app, ["perf", "compare", *paths]).exit_code == 0
    # A .txt and a .json of one record compare as equal.
    write(tmp_path, "current.json", slower)
    mixed = [str(tmp_path / "baseline.txt"), str(tmp_path / "current.json")]
    assert runner.invoke(app, ["perf", "compare", *mixed]).exit_code == 0


def accounts_record(typical: str = "paper_017") -> QueryBenchmark:
    """A benchmark of issue 12's shape: the primary and a typical account, and the comparison."""
    figures = {"city_metrics": (1.0, 2.0), "city_metrics@typical": (1.5, 3.0), "comparison": (4, 9)}
    record = queries_record(
        dataset=DATASET.model_copy(update={"accounts": 312}),
        **figures,  # type: ignore[arg-type]
    )
    return record.model_copy(update={"accounts": {"primary": "default", "typical": typical}})


def test_the_text_record_keeps_the_accounts_timed() -> None:
    record = accounts_record()
    text = render_query_text(record)
    assert "accounts: 312" in text and "accounts timed: primary=default, typical=paper_017" in text
    back = parse_query_text(text)
    assert back.accounts == record.accounts
    assert back.dataset == record.dataset
    assert back.queries == record.queries


def test_the_gate_refuses_runs_that_timed_other_accounts(tmp_path: Path) -> None:
    base = write(tmp_path, "base.json", accounts_record())
    same = write(tmp_path, "same.json", accounts_record())
    other = write(tmp_path, "other.json", accounts_record(typical="paper_018"))
    assert all(row.verdict == "ok" for row in compare(load_run(base), load_run(same)))
    with pytest.raises(RefusedError, match="accounts"):
        compare(load_run(base), load_run(other))
