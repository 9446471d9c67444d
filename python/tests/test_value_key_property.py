"""The property of value keys (issue 12, item 1), checked with hypothesis over the value families of
_key_families.py (fixed seed, bounded examples): same type and equal gives the same key, in this
process and in others under other PYTHONHASHSEED values; different type or unequal gives another
key."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numpy")
hypothesis = pytest.importorskip("hypothesis")
from _key_families import rebuilt, strict_equal, values
from hypernodes._core import hash_value
from hypothesis import HealthCheck, given, seed, settings

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

_SETTINGS = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@seed(12)
@_SETTINGS
@given(values)
def test_equal_values_have_equal_keys(v):
    w = rebuilt(v)
    assert strict_equal(v, w)
    assert hash_value(v) == hash_value(w)


@seed(12)
@_SETTINGS
@given(values, values)
def test_keys_are_equal_exactly_when_values_are(a, b):
    assert (hash_value(a) == hash_value(b)) == strict_equal(a, b), (a, b)


def _keys_in_subprocess(path: Path, hash_seed: str) -> list[str]:
    code = (
        "import pickle, sys\n"
        "from hypernodes._core import hash_value\n"
        "vals = pickle.load(open(sys.argv[1], 'rb'))\n"
        "print('\\n'.join(hash_value(v) for v in vals))\n"
    )
    env = {
        **os.environ,
        "PYTHONHASHSEED": hash_seed,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
        ),
    }
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_keys_are_the_same_in_other_processes(tmp_path):
    collected = []

    @seed(12)
    @settings(max_examples=150, derandomize=True, deadline=None, database=None)
    @given(values)
    def collect(v):
        collected.append(v)

    collect()
    path = tmp_path / "values.pickle"
    path.write_bytes(pickle.dumps(collected))
    here = [hash_value(v) for v in collected]
    for hash_seed in ["1", "2", "3"]:
        assert _keys_in_subprocess(path, hash_seed) == here
