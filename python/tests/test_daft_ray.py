"""DaftExecutor on a real local Ray cluster (started by the test on loopback, shut down after).

Daft's runner is process-wide, so the Ray part runs in a fresh Python process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, tempfile
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    try:
        from hypernodes import Callback, DiskCache, NodeExecutor, Pipeline, node
        from hypernodes.daft import DaftExecutor

        class Rec(Callback):
            def __init__(self):
                self.hooks = []
            def on_node_cached(self, node_id, signature, ctx):
                self.hooks.append(("cached", node_id))
            def on_node_end(self, node_id, outputs, duration, ctx):
                self.hooks.append(("end", node_id))

        @node(output_name="y")
        def inc(x):
            return x + 1

        @node(output_name=("half", "pid"))
        def half(y):
            return y / 2, os.getpid()

        class Bad(Exception):
            pass

        @node(output_name="z")
        def check(half):
            if half > 100:
                raise Bad("too big")
            return half

        inner = Pipeline([inc], name="inner")
        p = Pipeline([inner.as_node(name="nest"), half, check], name="ray_p")
        cache = DiskCache(tempfile.mkdtemp())
        rec = Rec()
        ex = DaftExecutor(runner="ray")
        pc = Pipeline(list(p.nodes), name="ray_p", cache=cache, callbacks=[rec])
        xs = list(range(20))
        first = ex.map(pc, {"x": xs}, "x")
        hooks_first = list(rec.hooks)
        rec.hooks.clear()
        second = ex.map(pc, {"x": xs}, "x")
        expected = NodeExecutor().map(p, {"x": xs}, "x")
        try:
            ex.map(p, {"x": [1, 500]}, "x")
            error = None
        except Exception as e:  # a class of __main__ comes back as a copy of the class
            error = [type(e).__name__, str(e), e.__notes__]
        print(json.dumps({
            "same": [{k: v for k, v in r.items() if k != "pid"} for r in first]
                    == [{k: v for k, v in r.items() if k != "pid"} for r in expected],
            "second_equal": first == second,
            "pids": sorted({r["pid"] for r in first}),
            "driver": os.getpid(),
            "ended": sorted({h[1] for h in hooks_first if h[0] == "end"}),
            "cached": len([h for h in rec.hooks if h[0] == "cached"]),
            "ended_second": len([h for h in rec.hooks if h[0] == "end"]),
            "run": ex.run(p, {"x": 3}),
            "error": error,
        }))
    finally:
        ray.shutdown()
    """
)


def test_daft_executor_on_a_local_ray_cluster(tmp_path):
    script = tmp_path / "ray_job.py"
    script.write_text(SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["same"] and out["second_equal"]
    assert out["driver"] not in out["pids"], "nodes ran in Ray workers"
    assert out["ended"] == ["check", "half", "inc", "nest"]  # inc: inside the nested pipeline
    assert out["cached"] == 60 and out["ended_second"] == 0  # every node of every item hit
    assert out["run"]["z"] == 2.0
    assert out["error"] == ["Bad", "too big", ["in node 'check' of pipeline 'ray_p', item 1"]]
