"""Types of the compiled core (``hypernodes._core``, built from ``crates/hypernodes-python``).

Checked against the real module by ``mypy.stubtest`` (``scripts/typecheck.sh``).
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from os import PathLike
from pathlib import Path
from typing import (
    Any,
    Generic,
    Literal,
    Never,
    NoReturn,
    ParamSpec,
    Protocol,
    TypeAlias,
    TypeVar,
    final,
    overload,
)

from hypernodes.callbacks import Callback

__all__ = [
    "DiskCache",
    "MemoryCache",
    "Node",
    "NodeExecutor",
    "NodeStep",
    "Pipeline",
    "RunContext",
    "RunTree",
    "_flush_disk_caches",
    "code_identity",
    "continues_on_error",
    "hash_value",
    "is_user_module",
    "node_identity",
    "place_note",
    "value_key",
]

_P = ParamSpec("_P")
_R_co = TypeVar("_R_co", covariant=True)

_Mode: TypeAlias = Literal["sequential", "threaded", "async", "parallel"]
_MapMode: TypeAlias = Literal["zip", "product"]
_Names: TypeAlias = str | Sequence[str]

class _Executor(Protocol):
    """What a Pipeline accepts as ``executor``: NodeExecutor, DaftExecutor or your own."""

    def run(
        self, pipeline: Pipeline, inputs: dict[str, Any], output_name: _Names | None = None
    ) -> dict[str, Any]: ...
    def map(
        self,
        pipeline: Pipeline,
        inputs: dict[str, Any],
        map_over: _Names,
        map_mode: _MapMode = "zip",
        output_name: _Names | None = None,
    ) -> list[dict[str, Any]]: ...

@final
class Node(Generic[_P, _R_co]):
    """A step of a pipeline: a function (``@node``) or a nested pipeline (``Pipeline.as_node``).
    Calling a function node calls the function; calling a pipeline node runs it (keyword inputs)."""

    def __new__(
        cls,
        func: Callable[_P, _R_co],
        name: str,
        params: Sequence[str],
        outputs: Sequence[str],
        defaults: dict[str, Any],
        cache: bool = True,
        version: str | None = None,
        is_async: bool = False,
        multi: bool = False,
        identity: bytes | None = None,
        batch: Callable[..., Any] | None = None,
        batch_size: int = 256,
        batch_lists: bool = False,
    ) -> Node[_P, _R_co]: ...
    @property
    def batch(self) -> Callable[..., Any] | None: ...
    @property
    def singular(self) -> Callable[..., Any] | None: ...
    @property
    def batch_size(self) -> int | None: ...
    @property
    def batch_lists(self) -> bool | None: ...
    @property
    def name(self) -> str: ...
    @property
    def inputs(self) -> list[str]: ...
    @property
    def output_name(self) -> str | tuple[str, ...]: ...
    @property
    def outputs(self) -> list[str]: ...
    @property
    def cache(self) -> bool: ...
    @property
    def version(self) -> str | None: ...
    @property
    def func(self) -> Callable[_P, _R_co] | None: ...
    @property
    def is_pipeline(self) -> bool: ...
    @property
    def pipeline(self) -> Pipeline | None: ...
    @property
    def is_async(self) -> bool: ...
    @property
    def defaults(self) -> dict[str, Any]: ...
    @property
    def root_args(self) -> tuple[str, ...]: ...
    @property
    def code_hash(self) -> str: ...
    @property
    def bound_inputs(self) -> dict[str, Any]: ...
    @property
    def unfulfilled_args(self) -> tuple[str, ...]: ...
    @property
    def input_mapping(self) -> dict[str, str] | None: ...
    @property
    def output_mapping(self) -> dict[str, str] | None: ...
    @property
    def map_over(self) -> list[str]: ...
    @property
    def map_mode(self) -> _MapMode | None: ...
    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R_co: ...
    def with_cache(self, cache: bool) -> Node[_P, _R_co]: ...
    def with_name(self, name: str) -> Node[_P, _R_co]: ...
    def with_version(self, version: str) -> Node[_P, _R_co]: ...
    def __setattr__(self, name: str, value: Any, /) -> NoReturn: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

@final
class Pipeline:
    """An immutable DAG of nodes wired by name."""

    def __new__(
        cls,
        nodes: Sequence[Node[..., Any] | Pipeline],
        name: str | None = None,
        executor: _Executor | None = None,
        cache: _Cache | Literal[False] | None = None,
        callbacks: Sequence[Callback] | None = None,
        **renamed: Never,
    ) -> Pipeline: ...
    @property
    def name(self) -> str: ...
    @property
    def nodes(self) -> list[Node[..., Any]]: ...
    @property
    def inputs(self) -> list[str]: ...
    @property
    def optional_inputs(self) -> list[str]: ...
    @property
    def outputs(self) -> list[str]: ...
    @property
    def bound(self) -> dict[str, Any]: ...
    @property
    def cache(self) -> _Cache | Literal[False] | None: ...
    @property
    def callbacks(self) -> list[Callback] | None: ...
    @property
    def executor(self) -> _Executor | None: ...
    @property
    def bound_inputs(self) -> dict[str, Any]: ...
    @property
    def unfulfilled_args(self) -> tuple[str, ...]: ...
    @property
    def graph(self) -> Any: ...
    def run(
        self,
        inputs: dict[str, Any] | None = None,
        output_name: _Names | None = None,
        *,
        ignore_unknown_inputs: bool = False,
    ) -> dict[str, Any]: ...
    @overload
    def map(
        self,
        inputs: dict[str, Any] | None = None,
        map_over: _Names | None = None,
        map_mode: _MapMode = "zip",
        output_name: _Names | None = None,
        on_error: Literal["raise"] = "raise",
        *,
        ignore_unknown_inputs: bool = False,
    ) -> list[dict[str, Any]]: ...
    @overload
    def map(
        self,
        inputs: dict[str, Any] | None = None,
        map_over: _Names | None = None,
        map_mode: _MapMode = "zip",
        output_name: _Names | None = None,
        *,
        on_error: Literal["continue"],
        ignore_unknown_inputs: bool = False,
    ) -> list[dict[str, Any] | BaseException]: ...
    def as_node(
        self,
        name: str | None = None,
        input_mapping: Mapping[str, str] | None = None,
        output_mapping: Mapping[str, str] | None = None,
        map_over: _Names | None = None,
        map_mode: _MapMode = "zip",
        cache: bool = True,
    ) -> Node[..., dict[str, Any]]: ...
    def bind(self, **values: Any) -> Pipeline: ...
    def unbind(self, *names: str) -> Pipeline: ...
    def with_name(self, name: str) -> Pipeline: ...
    def with_executor(self, executor: _Executor | None) -> Pipeline: ...
    def with_cache(self, cache: _Cache | Literal[False] | None) -> Pipeline: ...
    def with_callbacks(self, callbacks: Sequence[Callback] | None) -> Pipeline: ...
    def visualize(self, filename: str | None = None, depth: int = 1) -> Any: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...
    # for executors written in Python
    def _check_inputs(
        self,
        inputs: dict[str, Any],
        output_name: _Names | None = None,
        map_over: _Names | None = None,
    ) -> None: ...
    def _map_items(
        self, inputs: dict[str, Any], map_over: Sequence[str], map_mode: _MapMode = "zip"
    ) -> list[tuple[Any, ...]]: ...
    def _producers(self) -> dict[str, tuple[int, int]]: ...
    def _plan(
        self, output_name: Sequence[str] | None
    ) -> tuple[list[int], list[str], list[str], dict[int, list[int]]]: ...

@final
class NodeExecutor:
    """Runs pipelines node by node; ``node_execution`` governs the nodes of one run,
    ``map_execution`` the items of one map."""

    def __new__(
        cls,
        node_execution: _Mode = "sequential",
        map_execution: _Mode = "sequential",
        max_workers: int | None = None,
        **renamed: Never,
    ) -> NodeExecutor: ...
    @property
    def node_execution(self) -> _Mode: ...
    @property
    def map_execution(self) -> _Mode: ...
    @property
    def max_workers(self) -> int: ...
    @property
    def max_workers_setting(self) -> int | None: ...
    def run(
        self, pipeline: Pipeline, inputs: dict[str, Any], output_name: _Names | None = None
    ) -> dict[str, Any]: ...
    @overload
    def map(
        self,
        pipeline: Pipeline,
        inputs: dict[str, Any],
        map_over: _Names,
        map_mode: _MapMode = "zip",
        output_name: _Names | None = None,
        on_error: Literal["raise"] = "raise",
    ) -> list[dict[str, Any]]: ...
    @overload
    def map(
        self,
        pipeline: Pipeline,
        inputs: dict[str, Any],
        map_over: _Names,
        map_mode: _MapMode = "zip",
        output_name: _Names | None = None,
        *,
        on_error: Literal["continue"],
    ) -> list[dict[str, Any] | BaseException]: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

@final
class MemoryCache:
    """Results kept in this process's memory."""

    def __new__(cls) -> MemoryCache: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...
    def _export(self) -> dict[bytes, Any]: ...
    def _merge(self, entries: dict[bytes, Any]) -> None: ...

@final
class DiskCache:
    """Results kept on disk under ``path`` (an embedded database plus files for large values;
    opened where first used)."""

    def __new__(
        cls,
        path: str | PathLike[str],
        size_limit: int | None = None,
        secret: str | bytes | None = None,
    ) -> DiskCache: ...
    @property
    def path(self) -> Path: ...
    @property
    def size_limit(self) -> int | None: ...
    def __len__(self) -> int: ...
    def clear(self) -> int: ...
    def stats(self) -> dict[str, int]: ...
    def prune(self, older_than: float | timedelta) -> dict[str, int]: ...
    def flush(self) -> None: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

@final
class RunContext:
    """One level of a run, for executors written in Python (cache, callbacks, path)."""

    @staticmethod
    def root(pipeline: Pipeline, executor: Any) -> RunContext: ...
    def nested(self, pipeline: Pipeline) -> RunContext: ...
    def map_item(self, index: int) -> RunContext: ...
    def node_note(self, node: str) -> str: ...
    def replay_item(
        self,
        pipeline: Pipeline,
        output_name: Sequence[str] | None,
        index: int | None,
        inputs: dict[str, Any],
        item_keys: Sequence[bytes] | None,
        records: dict[int, tuple[Any, ...]],
        observe: bool = True,
    ) -> dict[str, Any]: ...
    @property
    def origin(self) -> tuple[list[str], list[int], int]: ...
    @property
    def cache(self) -> _Cache | None: ...
    @property
    def observed(self) -> bool: ...
    @property
    def path(self) -> list[str]: ...
    @property
    def depth(self) -> int: ...
    @property
    def map_depth(self) -> int: ...
    def emit(self, hook: str, args: tuple[Any, ...], path: Sequence[str] | None = None) -> None: ...

_Cache: TypeAlias = MemoryCache | DiskCache

@final
class NodeStep:
    """One node's step for an executor that calls node functions itself: the engine's cache
    protocol (``lookup`` before the call, ``store`` after) and output rules (``unpack``)."""

    def __new__(
        cls,
        node: Node[..., Any],
        wanted: Sequence[int] | None = None,
        cache: _Cache | None = None,
        identity: bytes | None = None,
    ) -> NodeStep: ...
    def lookup(
        self, keys: Sequence[bytes | None] | None
    ) -> tuple[bytes | None, tuple[list[Any], list[bytes | None], str] | None]: ...
    def unpack(self, out: object) -> list[Any] | BaseException: ...
    def call_batch(
        self, rows: Sequence[Sequence[Any]], varies: Sequence[bool]
    ) -> list[list[Any]] | BaseException: ...
    def call_columns(
        self, columns: Sequence[Any], varies: Sequence[bool], len: int
    ) -> list[list[Any]] | BaseException: ...
    @property
    def is_dual(self) -> bool: ...
    @property
    def batch_size(self) -> int: ...
    def store(
        self, keys: Sequence[bytes | None] | None, outs: Sequence[Any]
    ) -> tuple[list[bytes | None] | None, bool]: ...

@final
class RunTree:
    """The engine's model of one root run (spans and progress bars), fed callback hooks."""

    def __new__(cls, *, spans: bool = True, bars: bool = True) -> RunTree: ...
    def feed(
        self, hook: str, args: tuple[Any, ...], path: Sequence[str], items: Sequence[int]
    ) -> list[tuple[Any, ...]]: ...
    @property
    def done(self) -> bool: ...

def node_identity(node: Node[..., Any]) -> bytes | None: ...
def value_key(value: object, name: str | None = None) -> bytes | None: ...
def code_identity(func: Callable[..., Any]) -> bytes: ...
def is_user_module(name: str) -> bool: ...
def continues_on_error(on_error: str) -> bool: ...
def place_note(path: Sequence[str], items: Sequence[int]) -> str: ...
def hash_value(obj: object) -> str: ...
def _flush_disk_caches(exiting: bool = False) -> None: ...
