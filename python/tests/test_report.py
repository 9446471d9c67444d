"""RunReport: its numbers against runs with known sleeps and cache hits, and its two pictures."""

from __future__ import annotations

import itertools
import re
import shutil
import time
from pathlib import Path

import pytest
from hypernodes import MemoryCache, NodeExecutor, Pipeline, RunReport, node


@node(output_name="a")
def slow(x: int) -> int:
    time.sleep(0.05)
    return x


@node(output_name="b")
def fast(a: int) -> int:
    return a + 1


@node(output_name="c")
def boom(b: int) -> int:
    if b == 3:
        raise ValueError("three")
    return b


def test_counts_times_and_hits_of_a_nested_map_then_a_cached_rerun():
    report = RunReport()
    inner = Pipeline([slow, fast], name="inner")
    p = Pipeline(
        [inner.as_node(name="per", map_over="x", output_mapping={"b": "bs"})],
        name="outer",
        cache=MemoryCache(),
        callbacks=[report],
    )
    assert p.run(inputs={"x": [1, 2, 3]}) == {"bs": [2, 3, 4]}
    s = report.stats("slow")
    assert (s.calls, s.cache_hits, s.errors) == (3, 0, 0)
    assert 0.15 <= s.total_time < 0.5
    assert 0.05 <= s.slowest < 0.2
    assert report.stats("fast").total_time < 0.05
    assert report.stats("per").path == ("outer",)
    assert report.stats("slow").path == ("outer", "inner")

    p.run(inputs={"x": [1, 2, 5]})  # per misses (new list); slow hits for 1 and 2
    s = report.stats("slow")
    assert (s.calls, s.cache_hits) == (6, 2)
    assert 0.2 <= s.total_time < 0.6
    per = report.stats("per")
    assert (per.calls, per.cache_hits) == (2, 0)

    p.run(inputs={"x": [1, 2, 5]})  # the whole node is a hit
    assert (report.stats("per").calls, report.stats("per").cache_hits) == (3, 1)
    assert report.stats("slow").calls == 6

    spans = [sp for sp in report.spans if sp.node == "slow"]
    assert [sp.status for sp in spans] == ["ran"] * 3 + ["cached", "cached", "ran"]
    assert [sp.item for sp in spans] == [0, 1, 2, 0, 1, 2]
    ran = [sp for sp in spans if sp.status == "ran"]
    assert all(0.045 <= sp.end - sp.start < 0.2 for sp in ran)
    assert all(a.end <= b.start + 1e-3 for a, b in itertools.pairwise(ran))  # sequential
    assert report.duration >= 0.2


def test_threaded_map_spans_per_item_and_worker():
    report = RunReport()
    p = Pipeline(
        [slow, fast],
        name="flat",
        callbacks=[report],
        executor=NodeExecutor(map_execution="threaded", max_workers=3),
    )
    start = time.perf_counter()
    p.map(inputs={"x": list(range(6))}, map_over="x")
    wall = time.perf_counter() - start
    s = report.stats("slow")
    assert (s.calls, s.cache_hits) == (6, 0)
    assert 0.3 <= s.total_time  # six sleeps of 50 ms
    assert wall < s.total_time  # they overlapped
    slow_spans = [sp for sp in report.spans if sp.node == "slow"]
    assert sorted(sp.item for sp in slow_spans) == list(range(6))
    workers = {sp.worker for sp in slow_spans}
    assert 2 <= len(workers) <= 3
    # each item's fast ran after its slow, in the same row
    for sp in slow_spans:
        f = next(x for x in report.spans if x.node == "fast" and x.item == sp.item)
        assert f.worker == sp.worker and f.start >= sp.end - 1e-3


def test_errors_are_counted_and_the_report_survives_json():
    report = RunReport()
    p = Pipeline([slow, fast, boom], name="e", callbacks=[report])
    with pytest.raises(ValueError, match="three"):
        p.run(inputs={"x": 2})
    assert report.stats("boom").errors == 1
    assert report.stats("boom").calls == 1
    assert [sp.status for sp in report.spans if sp.node == "boom"] == ["error"]
    back = RunReport.from_json(report.to_json())
    assert back.to_dict() == report.to_dict()
    assert back.stats("slow").total_time == report.stats("slow").total_time
    with pytest.raises(ValueError, match="run report"):
        RunReport.from_json('{"nodes": []}')
    with pytest.raises(KeyError, match="recorded"):
        report.stats("nope")
    report.reset()
    assert report.nodes == {} and report.spans == []


def test_pictures_of_a_run(tmp_path):
    report = RunReport()
    inner = Pipeline([slow, fast], name="inner")
    p = Pipeline([inner.as_node(name="per", map_over="x")], name="outer", callbacks=[report])
    p.run(inputs={"x": [1, 2]})
    g = report.visualize(p)
    assert "2 calls · 0 hits · 1" in g.source  # slow: 2 calls, about 100 ms
    assert re.search(r"2 calls · 0 hits · \d+\.\d ms", g.source)
    # the slowest node is the warmest colour
    assert re.search(r'"slow" \[label=.*fillcolor="#ef9a9a"', g.source)
    assert re.search(r'"fast" \[label=.*fillcolor="#e8f5e9"', g.source)
    t = report.timeline(tmp_path / "t.svg")
    svg = (tmp_path / "t.svg").read_text()
    assert svg.startswith("<svg") and svg == t.svg()
    assert svg.count('class="span" data-node="inner/slow"') == 2
    assert "item 0" in svg and "item 1" in svg
    report.timeline(tmp_path / "t.html")
    assert "<svg" in (tmp_path / "t.html").read_text()
    report.visualize(p, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert r"2 calls \u00b7 0 hits" in page and r"1 call \u00b7 0 hits" in page  # JSON-escaped
    if shutil.which("dot"):
        report.visualize(p, tmp_path / "r.svg")
        assert "2 calls · 0 hits" in (tmp_path / "r.svg").read_text()


def test_a_report_written_by_the_rust_front_is_drawn(tmp_path):
    # written by crates/hypernodes/tests/report.rs (a map of 2 items over slow (40 ms) and fast)
    text = (Path(__file__).parent / "data" / "rust_run_report.json").read_text()
    report = RunReport.from_json(text)
    slow = report.stats("slow", ("p",))
    assert (slow.calls, slow.cache_hits, slow.errors) == (2, 0, 0)
    assert 0.08 <= slow.total_time < 0.5
    assert sorted(s.item for s in report.spans if s.node == "slow") == [0, 1]
    svg = report.timeline(tmp_path / "rust.svg").svg()
    assert svg.count('data-node="slow"') == 2 and "item 1" in svg
    p = Pipeline([node(output_name="a")(lambda x: x)], name="p")
    assert "label=" in report.visualize(p).source
