"""@stateful objects and DualNode on a real local Ray cluster (started by the test on loopback, shut
down after): each Ray UDF actor builds each object once, ``DaftExecutor(stateful_udf=...)`` reaches
``@daft.cls`` (one actor: one build), and the caller's objects stay unbuilt.

Daft's runner is process-wide, so the Ray part runs in a fresh Python process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    try:
        from hypernodes import DualNode, Pipeline, node, stateful
        from hypernodes.daft import DaftExecutor

        LOG = sys.argv[1]

        @stateful
        class Model:
            def __init__(self, k):
                with open(LOG, "a") as f:
                    f.write(f"{os.getpid()} {k}\\n")
                self.k = k
            def one(self, x):
                return x * self.k
            def many(self, x):
                return [v * self.k for v in x.to_pylist()]

        @node(output_name="z")
        def after(y, offset):
            return y + offset.k

        out = {}
        for label, options in (("default", None), ("one actor", {"max_concurrency": 1})):
            open(LOG, "w").close()
            model, offset = Model(3), Model(1)
            p = Pipeline(
                nodes=[DualNode("y", model.one, model.many), after],
                executor=DaftExecutor(runner="ray", stateful_udf=options),
            )
            r = p.map(inputs={"x": list(range(300)), "offset": offset}, map_over="x")
            builds = [line.split() for line in open(LOG).read().splitlines()]
            out[label] = {
                "ok": [o["z"] for o in r] == [3 * x + 1 for x in range(300)],
                "builds": builds,
                "caller_unbuilt": model._instance is None and offset._instance is None,
            }
        out["driver"] = str(os.getpid())
        print(json.dumps(out))
    finally:
        ray.shutdown()
    """
)


def test_stateful_objects_are_built_once_per_ray_actor(tmp_path):
    script = tmp_path / "ray_job.py"
    script.write_text(SCRIPT)
    log = tmp_path / "builds"
    proc = subprocess.run(
        [sys.executable, str(script), str(log)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for label in ("default", "one actor"):
        run = out[label]
        assert run["ok"] and run["caller_unbuilt"], run
        pairs = [tuple(b) for b in run["builds"]]
        assert len(pairs) == len(set(pairs)), "an object built twice in one actor"
        assert all(pid != out["driver"] for pid, _ in pairs)
        assert {k for _, k in pairs} == {"1", "3"}
    # one actor: each of the two objects built exactly once
    assert len(out["one actor"]["builds"]) == 2
    assert len({pid for pid, _ in out["one actor"]["builds"]}) == 1
