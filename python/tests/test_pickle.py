"""Pipelines, caches and executors pickle as configuration, never as materialized state."""

import pickle

import cloudpickle
from hypernodes import Callback, DiskCache, MemoryCache, NodeExecutor, Pipeline, node


@node(output_name="y")
def double(x, k=2):
    return x * k


class Counter(Callback):
    def __init__(self):
        self.ends = 0

    def on_node_end(self, node_id, outputs, duration, ctx):
        self.ends += 1


def test_disk_cache_travels_as_its_path_and_opens_lazily(tmp_path):
    where = tmp_path / "not-created-yet"
    cache = DiskCache(str(where))
    assert not where.exists()  # opened where it is first used
    clone = pickle.loads(pickle.dumps(cache))
    assert isinstance(clone, DiskCache) and str(clone.path) == str(where)
    assert not where.exists()


def test_memory_cache_travels_empty():
    cache = MemoryCache()
    Pipeline([double], cache=cache).run({"x": 1})
    assert len(cache) == 1
    assert len(pickle.loads(pickle.dumps(cache))) == 0


def test_pipeline_round_trip_keeps_configuration(tmp_path):
    cb = Counter()
    ex = NodeExecutor(node_execution="threaded", map_execution="threaded", max_workers=3)
    p = Pipeline([double], name="p", executor=ex, cache=DiskCache(str(tmp_path)), callbacks=[cb])
    p = p.bind(k=5)
    q = cloudpickle.loads(cloudpickle.dumps(p))
    assert q.name == "p" and q.bound == {"k": 5}
    assert (q.executor.node_execution, q.executor.max_workers) == ("threaded", 3)
    assert isinstance(q.cache, DiskCache) and str(q.cache.path) == str(tmp_path)
    assert len(q.callbacks) == 1 and q.callbacks[0] is not cb
    assert q.run({"x": 2}) == {"y": 10}
    # the clone's callback is its own object: the original saw nothing
    assert cb.ends == 0 and q.callbacks[0].ends == 1
    # and the same keys: the original pipeline now hits the entry the clone wrote
    seen = []

    class Hits(Callback):
        def on_node_cached(self, node_id, signature, ctx):
            seen.append(node_id)

    Pipeline([double], name="p", cache=DiskCache(str(tmp_path)), callbacks=[Hits()]).bind(k=5).run(
        {"x": 2}
    )
    assert seen == ["double"]


def test_cache_false_and_empty_callbacks_survive_pickling():
    p = Pipeline([double], cache=False, callbacks=[])
    q = pickle.loads(pickle.dumps(p))
    assert q.cache is False and q.callbacks == []
