"""@stateful: lazy construction, pickling as class + init args, once per process (counted through
a file, so worker processes count too), cache keys that never build, and errors naming the class
and the node."""

from __future__ import annotations

import os
import pickle
import threading
import time

import cloudpickle
import pytest
from conftest import IN_WORKER_PROCESSES, make_executor
from hypernodes import (
    ConfigurationError,
    DiskCache,
    MemoryCache,
    NodeExecutor,
    Pipeline,
    node,
    stateful,
)
from hypernodes.stateful import is_stateful


def builds(log) -> list[int]:
    """The pids of the processes that built an object, one per construction."""
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def model_class(log, delay: float = 0.0):
    @stateful
    class Model:
        """A model that logs each construction (pid) to ``log``."""

        def __init__(self, factor: int, name: str = "m"):
            time.sleep(delay)
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")
            self.factor = factor
            self.name = name
            self.weights = list(range(1000))

        def predict(self, x):
            return x * self.factor

    return Model


@node(output_name="y")
def predict(x, model):
    return model.predict(x)


# ------------------------------------------------------------------------- laziness


def test_construction_waits_for_first_use_and_happens_once(tmp_path):
    log = tmp_path / "log"
    Model = model_class(log)
    m = Model(3)
    assert m._instance is None and builds(log) == []
    assert "not built" in repr(m)  # repr does not build
    assert m.factor == 3
    assert m._instance is not None and len(builds(log)) == 1
    assert m.predict(2) == 6
    m.factor = 5  # attribute writes reach the built object
    assert m.predict(2) == 10 and len(builds(log)) == 1
    assert Model.__hypernode_stateful__ is True and is_stateful(m)


def test_a_method_taken_before_construction_builds_on_its_call(tmp_path):
    log = tmp_path / "log"
    m = model_class(log)(4)
    method = m.predict
    assert builds(log) == []
    assert method(2) == 8 and len(builds(log)) == 1


def test_concurrent_first_uses_build_once(tmp_path):
    log = tmp_path / "log"
    m = model_class(log, delay=0.05)(2)
    threads = [threading.Thread(target=lambda: m.predict(1)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds(log)) == 1


def test_a_class_can_opt_in_with_the_marker_and_non_classes_are_refused():
    class Client:
        __hypernode_stateful__ = True

    assert is_stateful(Client()) and not is_stateful(object())
    with pytest.raises(ConfigurationError, match="@stateful needs a class"):
        stateful(lambda: 1)


def test_callable_classes_stay_callable_and_lazy(tmp_path):
    @stateful
    class Scorer:
        def __init__(self, bias):
            self.bias = bias

        def __call__(self, x):
            return x + self.bias

    s = Scorer(10)
    assert s._instance is None
    assert s(1) == 11


# ------------------------------------------------------------------------- pickling


def test_pickles_as_class_and_init_args_never_the_built_object(tmp_path):
    log = tmp_path / "log"
    m = model_class(log)(7, name="big")
    unbuilt = cloudpickle.dumps(m)
    assert m.factor == 7  # built now: its 1000 weights must not travel
    assert len(cloudpickle.dumps(m)) == len(unbuilt)
    copy = cloudpickle.loads(unbuilt)
    assert copy._instance is None
    assert copy.predict(1) == 7 and copy.name == "big"


def test_pickling_a_pipeline_that_holds_an_unbuilt_object_does_not_build_it(tmp_path):
    log = tmp_path / "log"
    m = model_class(log)(2)
    p = Pipeline(nodes=[predict]).bind(model=m)
    restored = pickle.loads(cloudpickle.dumps(p))
    assert builds(log) == []
    assert restored.run(inputs={"x": 4}) == {"y": 8}
    assert len(builds(log)) == 1


# ------------------------------------------------------------------------- once per process


def test_built_once_per_process_in_every_executor_and_mode(tmp_path, mode):
    log = tmp_path / "log"
    m = model_class(log)(3)
    p = Pipeline(nodes=[predict], executor=make_executor(mode))
    for _ in range(3):
        out = p.map(inputs={"x": list(range(40)), "model": m}, map_over="x")
        assert [o["y"] for o in out] == [3 * x for x in range(40)]
    pids = builds(log)
    # never more than once in any one process, and at least once somewhere
    assert len(pids) == len(set(pids)) >= 1, pids
    if mode in IN_WORKER_PROCESSES:
        assert os.getpid() not in pids  # the caller's object was never built: only copies were
        assert len(pids) <= max(2, os.cpu_count() or 1)
    else:
        assert pids == [os.getpid()] and m._instance is not None


def test_a_parallel_map_called_three_times_builds_once_per_worker(tmp_path):
    log = tmp_path / "log"
    m = model_class(log)(2)
    p = Pipeline(nodes=[predict], executor=NodeExecutor(map_execution="parallel", max_workers=2))
    for _ in range(3):
        p.map(inputs={"x": list(range(200)), "model": m}, map_over="x")
    pids = builds(log)
    assert 1 <= len(pids) <= 2 and len(set(pids)) == len(pids), pids


# ------------------------------------------------------------------------- cache keys


def test_cache_key_from_class_and_init_arguments_never_builds(tmp_path):
    log = tmp_path / "log"
    Model = model_class(log)
    calls = []

    @node(output_name="y")
    def use(x, model):
        calls.append(x)
        return x * 2

    p = Pipeline(nodes=[use], cache=DiskCache(str(tmp_path / "c")))
    assert p.run(inputs={"x": 1, "model": Model(1)}) == {"y": 2}
    # a fresh object with the same arguments, written differently, hits; nothing is built
    assert p.run(inputs={"x": 1, "model": Model(factor=1, name="m")}) == {"y": 2}
    assert calls == [1] and builds(log) == []
    # other arguments: another key
    p.run(inputs={"x": 1, "model": Model(2)})
    assert calls == [1, 1]


def test_a_classes_own_cache_key_is_used_without_building(tmp_path):
    log = tmp_path / "log"

    @stateful
    class Versioned:
        def __init__(self, path, version):
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")
            self.path = path

        def __cache_key__(self):
            return f"Versioned({self.version})"  # the path does not count

    calls = []

    @node(output_name="y")
    def use(x, model):
        calls.append(x)
        return x

    p = Pipeline(nodes=[use], cache=MemoryCache())
    p.run(inputs={"x": 1, "model": Versioned("/a", 1)})
    p.run(inputs={"x": 1, "model": Versioned("/b", 1)})
    assert calls == [1]
    p.run(inputs={"x": 1, "model": Versioned("/a", 2)})
    assert calls == [1, 1] and builds(log) == []


# ------------------------------------------------------------------------- errors


class LoadError(Exception):
    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = code


@stateful
class Broken:
    def __init__(self, path):
        raise LoadError(f"no weights at {path}", 404)

    def predict(self, x):
        return x


@node(output_name="y")
def judge(x, model):
    return model.predict(x)


def test_an_init_that_raises_names_the_class_and_the_node(mode):
    p = Pipeline(nodes=[judge], executor=make_executor(mode))
    with pytest.raises(LoadError) as info:
        p.map(inputs={"x": [1, 2], "model": Broken("/nope")}, map_over="x")
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert info.value.code == 404
    assert "class 'Broken'" in notes and "node 'judge'" in notes, notes


def test_a_failed_construction_is_tried_again_on_next_use(tmp_path):
    attempts = []

    @stateful
    class Flaky:
        def __init__(self):
            attempts.append(1)
            if len(attempts) == 1:
                raise RuntimeError("first try fails")
            self.ok = True

    f = Flaky()
    with pytest.raises(RuntimeError, match="first try fails"):
        f.ok  # noqa: B018
    assert f.ok is True and len(attempts) == 2


def test_daft_stateful_udf_options_are_checked_and_travel():
    from hypernodes.daft import DaftExecutor

    with pytest.raises(ConfigurationError, match="unknown option.*'gpu'"):
        DaftExecutor(runner="ray", stateful_udf={"gpu": 1})
    with pytest.raises(ConfigurationError, match="max_concurrency must be at least 1"):
        DaftExecutor(runner="ray", stateful_udf={"max_concurrency": 0})
    ex = DaftExecutor(runner="ray", stateful_udf={"gpus": 1, "max_concurrency": 2})
    assert pickle.loads(pickle.dumps(ex)).stateful_udf == {"gpus": 1, "max_concurrency": 2}


def test_a_cached_dual_node_map_never_builds_its_model(tmp_path):
    from hypernodes import DualNode

    log = tmp_path / "log"
    Model = model_class(log)
    cache = DiskCache(str(tmp_path / "c"))

    def pipeline(model):
        d = DualNode("y", model.predict, lambda x: [model.predict(v) for v in x.to_pylist()])
        return Pipeline(nodes=[d], cache=cache)

    assert pipeline(Model(2)).map(inputs={"x": [1, 2, 3]}, map_over="x")[2] == {"y": 6}
    assert len(builds(log)) == 1
    # a fresh, unbuilt object with the same arguments: every item hits, nothing is built
    again = Model(2)
    assert pipeline(again).map(inputs={"x": [1, 2, 3]}, map_over="x")[2] == {"y": 6}
    assert len(builds(log)) == 1 and again._instance is None
