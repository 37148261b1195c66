"""Sweep tasks: what one run is (:class:`Task`), its key, and how a spec expands into tasks.

A task is a *description*, never data: the problem factory's dotted path, its
keyword parameters, the seed, the routine of :func:`solvers.solve` and its
options, the backend. Workers build the problem themselves from it, so nothing
bigger than a few hundred bytes crosses the network per task.

The key of a task is a hash of exactly these fields (canonical JSON, SHA-256),
so the same description always has the same key, on every machine and in every
session: it names the task's run file, is stored in the run's tags
(``sweep_key``) and is what a resumed sweep compares.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import itertools
import json
import numbers
import os
from typing import Iterable, Mapping

#: the most tasks one spec may expand to (a typo such as a 10^4-value range in every axis is caught here)
MAX_TASKS = 1_000_000

#: top-level keys of a sweep spec (TOML file or dict)
SPEC_KEYS = ("name", "factory", "method", "backend", "seeds", "seed_param", "params", "grid", "options",
             "option_grid", "store")


def _plain(name: str, v):
    """``v`` as plain JSON data (str, int, float, bool, None, lists, str-keyed dicts); refuse the rest."""
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, (list, tuple)):
        return [_plain(f"{name}[{i}]", x) for i, x in enumerate(v)]
    if isinstance(v, Mapping):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise TypeError(f"{name}: key {k!r} is a {type(k).__name__}; keys must be strings")
            out[k] = _plain(f"{name}.{k}", x)
        return out
    raise TypeError(f"{name} = {v!r:.60} is a {type(v).__name__}; sweep parameters and options must be plain data "
                    "(numbers, strings, booleans, lists, tables), so that a worker can rebuild the problem from "
                    "them and the task key is reproducible. Build arrays and callables inside the factory")


def canonical(v) -> str:
    """Canonical JSON text of plain data (sorted keys, no spaces): the input of task keys."""
    return json.dumps(v, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _check_factory_path(factory) -> str:
    if not isinstance(factory, str) or not factory.strip():
        raise TypeError(f"factory must be a dotted path such as 'problems.ot:random_point_clouds', got {factory!r:.60}")
    mod, _, attr = factory.partition(":") if ":" in factory else factory.rpartition(".")
    if not mod or not attr or not all(p.isidentifier() for p in mod.split(".") + attr.split(".")):
        raise ValueError(f"factory {factory!r} is not a dotted path 'package.module:function' "
                         "(e.g. 'problems.ot:random_point_clouds' or 'problems.pde:Poisson.manufactured')")
    return factory


def resolve_factory(factory: str):
    """Import the callable named by ``factory`` (``"pkg.mod:name"`` or ``"pkg.mod.name"``; the name may be
    dotted, ``"problems.pde:Poisson.manufactured"``). Runs on the worker."""
    _check_factory_path(factory)
    mod, _, attr = factory.partition(":") if ":" in factory else factory.rpartition(".")
    obj = importlib.import_module(mod)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(f"factory {factory!r}: module {mod!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise TypeError(f"factory {factory!r} names a {type(obj).__name__}, not a callable")
    return obj


@dataclasses.dataclass(frozen=True, eq=True)
class Task:
    """One run of a sweep: build ``factory(**params, seed=seed)`` and ``solvers.solve`` it.

    Parameters
    ----------
    factory : str
        Dotted path of the problem factory, ``"problems.ot:random_point_clouds"``;
        imported on the worker (so :mod:`solvers` never imports :mod:`problems`).
    params : dict
        Keyword arguments of the factory (plain data).
    seed : int or None
        Passed to the factory as ``seed_param=seed`` (default ``seed=``); ``None``
        passes nothing (deterministic factories such as ``problems.pde:Poisson``).
    method : str or None
        Routine of :func:`solvers.solve` (``"sns"``, ``"sinkhorn"``, ``"cg"`` ...);
        ``None`` is the problem's default.
    options : dict
        Keyword options of :func:`solvers.solve` (``tol``, ``rtol``, ``maxiter``, ``precond`` ...).
    backend : str or None
        ``"numpy"``, ``"numba"``, ``"cupy"`` or None (the default backend).
    seed_param : str
        The factory's keyword for the seed.
    name : str
        A label stored in the run tags (not part of the key).
    """

    factory: str
    params: dict = dataclasses.field(default_factory=dict)
    seed: int | None = None
    method: str | None = None
    options: dict = dataclasses.field(default_factory=dict)
    backend: str | None = None
    seed_param: str = "seed"
    name: str = ""

    def __post_init__(self):
        _check_factory_path(self.factory)
        for field in ("params", "options"):
            if not isinstance(getattr(self, field), Mapping):
                raise TypeError(f"{field} must be a dict of keyword arguments, got "
                                f"{type(getattr(self, field)).__name__} {getattr(self, field)!r:.40}")
        object.__setattr__(self, "params", _plain("params", dict(self.params)))
        object.__setattr__(self, "options", _plain("options", dict(self.options)))
        if self.seed is not None:
            if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
                raise TypeError(f"seed must be an int or None, got {type(self.seed).__name__} {self.seed!r:.40}")
            if not 0 <= int(self.seed) < 2**63:
                raise ValueError(f"seed must be in [0, 2**63), got {self.seed}")
            object.__setattr__(self, "seed", int(self.seed))
        for field in ("method", "backend"):
            v = getattr(self, field)
            if v is not None and (not isinstance(v, str) or not v):
                raise TypeError(f"{field} must be a non-empty string or None, got {v!r:.40}")
        if self.backend is not None:
            from ..backends import NAMES

            if self.backend.lower() not in NAMES:
                raise ValueError(f"backend {self.backend!r} is unknown; choose one of {', '.join(NAMES)} (or None)")
            object.__setattr__(self, "backend", self.backend.lower())   # "NUMPY" and "numpy" are one task
        if not isinstance(self.seed_param, str) or not self.seed_param.isidentifier():
            raise ValueError(f"seed_param must be the factory's keyword for the seed, got {self.seed_param!r}")
        if self.seed is not None and self.seed_param in self.params:
            raise ValueError(f"params sets {self.seed_param!r} and a seed is given too; give the seed once "
                             "(seeds=[...] in a spec)")
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {type(self.name).__name__}")
        if "\0" in self.name:                     # (stored as a tag: the write would fail after the solve)
            raise ValueError("name must not contain a NUL character (HDF5 strings cannot hold one)")

    def describe(self) -> dict:
        """The fields the key is built from (plain data)."""
        return {"factory": self.factory, "params": self.params, "seed": self.seed, "seed_param": self.seed_param,
                "method": self.method, "options": self.options, "backend": self.backend}

    @property
    def key(self) -> str:
        """Deterministic key: ``"t"`` + 24 hex digits of SHA-256 over :meth:`describe` (canonical JSON)."""
        return "t" + hashlib.sha256(canonical(self.describe()).encode()).hexdigest()[:24]

    def factory_kwargs(self) -> dict:
        kw = dict(self.params)
        if self.seed is not None:
            kw[self.seed_param] = self.seed
        return kw

    def label(self) -> str:
        """Short human-readable form: ``sns n=20 eps=0.01 seed=1``."""
        parts = [self.method or "default"] + [f"{k}={v}" for k, v in self.params.items()]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        parts += [f"{k}={v}" for k, v in self.options.items()]
        return " ".join(parts)


def _axis(spec: Mapping, key: str, default):
    v = spec.get(key, default)
    if isinstance(v, list):
        if not v:
            raise ValueError(f"spec {key!r} is an empty list; give at least one value or leave it out")
        return v
    return [v]


def _table(spec: Mapping, key: str) -> dict:
    v = spec.get(key, {})
    if not isinstance(v, Mapping):
        raise TypeError(f"spec [{key}] must be a table (dict), got {type(v).__name__}")
    return dict(v)


def _product(grid: dict, what: str) -> list[dict]:
    for k, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"spec [{what}] {k!r} must be a non-empty list of values, got {values!r:.60}")
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[k] for k in names))]


#: options whose values a sweep checks before it runs (the routines check them again): a finite number >= 0,
#: and a count >= 0 (rtol = nan or maxiter = -1 failed on every task, each stored as a failed run: helper-160)
_NONNEG_OPTIONS = ("rtol", "atol", "tol")
_COUNT_OPTIONS = ("maxiter",)


def _check_option_values(opts: dict) -> None:
    from ..linear._validate import check_count, check_nonnegative
    for k in _NONNEG_OPTIONS:
        if k in opts and opts[k] is not None:
            try:
                check_nonnegative(k, opts[k], "1e-8")
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"spec option {exc}") from None
    for k in _COUNT_OPTIONS:
        if k in opts and opts[k] is not None:
            try:
                check_count(k, opts[k])
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"spec option {exc}") from None


def _check_methods(methods, options_list) -> None:
    from .. import _solve

    for opts in options_list:
        _check_option_values(opts)
    known = [*_solve.LINEAR, *_solve.PROBLEM_LEVEL]
    for m in methods:
        if m is None:
            continue
        if m not in known:
            raise ValueError(f"spec method {m!r} is not a routine of solvers.solve; known: {', '.join(known)}")
        accepted = set(_solve.accepted_options(m)) | ({"precond"} if m in _solve.LINEAR else set())
        for opts in options_list:
            unknown = sorted(set(opts) - accepted)
            if unknown:
                raise ValueError(f"spec options {', '.join(unknown)} are not taken by method {m!r}; it accepts: "
                                 f"{', '.join(sorted(accepted))}")


def tasks_from_spec(spec: Mapping, *, check_factory: bool = True) -> list[Task]:
    """Expand a sweep spec (the dict a TOML file parses to) into its tasks.

    Every combination of ``method`` x ``backend`` x ``[grid]`` x ``[option_grid]`` x
    ``seeds`` is one task (``method`` and ``backend`` may be one name or a list);
    ``[params]`` and ``[options]`` are fixed. See :func:`load_spec` for the format.
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"spec must be a dict (a parsed TOML table), got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"spec has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(SPEC_KEYS)}")
    if "factory" not in spec:
        raise ValueError("spec needs factory = 'package.module:function' (e.g. 'problems.ot:random_point_clouds')")
    factory = _check_factory_path(spec["factory"])
    fn = None
    if check_factory:
        try:
            fn = resolve_factory(factory)
        except (ImportError, AttributeError, TypeError) as exc:
            raise ValueError(f"spec factory {factory!r} cannot be used: {exc}") from exc
    params, grid = _table(spec, "params"), _table(spec, "grid")
    options, option_grid = _table(spec, "options"), _table(spec, "option_grid")
    for a, b, what in ((params, grid, "params/grid"), (options, option_grid, "options/option_grid")):
        both = sorted(set(a) & set(b))
        if both:
            raise ValueError(f"spec sets {', '.join(both)} in both [{what.split('/')[0]}] and "
                             f"[{what.split('/')[1]}]; keep each name in one of them")
    methods, backends = _axis(spec, "method", None), _axis(spec, "backend", None)
    seeds = _axis(spec, "seeds", None)
    name = spec.get("name", "")
    seed_param = spec.get("seed_param", "seed")
    for what, table in (("grid", grid), ("option_grid", option_grid)):
        for k, values in table.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"spec [{what}] {k!r} must be a non-empty list of values, got {values!r:.60}")
            _no_equal_values(what, k, values)
    count = len(methods) * len(backends) * len(seeds)
    for values in [*grid.values(), *option_grid.values()]:
        count *= len(values)
    if count > MAX_TASKS:
        raise ValueError(f"spec expands to {count:,} tasks, more than {MAX_TASKS:,}; split it into several sweeps "
                         "(each with its own store, or one store used by one sweep at a time)")
    grid_points, option_points = _product(grid, "grid"), _product(option_grid, "option_grid")
    _check_methods(methods, [{**options, **o} for o in option_points])
    tasks = [Task(factory, {**params, **g}, seed, m, {**options, **o}, be, seed_param, str(name))
             for m in methods for be in backends for g in grid_points for o in option_points for seed in seeds]
    check_unique(tasks)
    if fn is not None:
        _check_call(fn, factory, [*params, *grid, *([seed_param] if seeds != [None] else [])])
        offered = getattr(fn, "methods", None) if isinstance(fn, type) else None     # a problem class's own list
        bad = [m for m in methods if m is not None and isinstance(offered, (tuple, list)) and m not in offered]
        if bad:                                      # ('sns' for Poisson failed on every task: helper-160)
            raise ValueError(f"spec method {bad[0]!r} does not fit {fn.__name__}; it offers: {', '.join(offered)}")
    return tasks


def _check_call(fn, factory: str, names: list) -> None:
    """Refuse parameter names the factory does not take, or a required one the spec leaves out, before anything
    runs (a typo 'shap' was a failed run stored for every task, and the dry run listed them: helper-160)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):                  # a builtin without a signature: the workers will tell
        return
    ps = sig.parameters
    unknown = [n for n in names if n not in ps]
    if unknown and not any(q.kind == q.VAR_KEYWORD for q in ps.values()):
        raise ValueError(f"spec [params]/[grid] name {', '.join(map(repr, unknown))}, which factory {factory!r} does "
                         f"not take; it takes: {', '.join(ps)} (a typo?)")
    try:
        sig.bind(**dict.fromkeys(names))
    except TypeError as exc:
        raise ValueError(f"spec [params]/[grid] do not fit factory {factory!r}{sig}: {exc}; check the names "
                         "(a typo?) and give every required parameter") from None


def _no_equal_values(what: str, key: str, values: list) -> None:
    """Refuse an axis listing equal numbers of two types (``n = [10, 10.0]``): they are different task
    keys (the description is hashed as written) but the same run."""
    seen: dict = {}
    for v in values:
        if isinstance(v, numbers.Real) and not isinstance(v, bool):
            other = seen.setdefault(v, v)           # 10 and 10.0 hash and compare equal: one slot
            if type(other) is not type(v):
                raise ValueError(f"spec [{what}] {key!r} lists {other!r} and {v!r}, the same number written twice "
                                 "(they would run the same problem as two tasks); keep one")


def check_unique(tasks: Iterable[Task]) -> None:
    """Raise ``ValueError`` when two tasks have the same key (the same description twice)."""
    seen: dict[str, Task] = {}
    for t in tasks:
        if t.key in seen:
            raise ValueError(f"two tasks are the same run (key {t.key}): {t.label()}; a grid lists a value twice "
                             "or a task was given twice")
        seen[t.key] = t


def load_spec(path) -> dict:
    """Read a sweep spec from a TOML file (stdlib ``tomllib``; ``tomli`` on Python 3.10), or from a ``.json`` file
    holding the same table as a JSON object.

    Format::

        name = "ot-eps"                              # label stored in the run tags
        factory = "problems.ot:random_point_clouds"  # imported on the workers
        method = ["sns", "sinkhorn"]                 # one routine or a list (a grid axis)
        backend = "numba"                            # one backend or a list
        seeds = [0, 1, 2]                            # passed as seed= (leave out for no seed)
        store = "runs/"                              # optional default for --store

        [params]            # fixed keyword arguments of the factory
        dim = 2
        [grid]              # factory arguments: every combination
        n = [100, 200]
        eps = [1e-2, 1e-3]
        [options]           # fixed options of solvers.solve
        tol = 1e-8
        [option_grid]       # solve options: every combination
        maxiter = [100, 1000]
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ImportError("reading a sweep spec on Python 3.10 needs tomli: pip install tomli "
                              "(Python >= 3.11 has tomllib)") from None
    p = os.fspath(path)
    if os.path.isdir(p):                             # (it said 'specs: Is a directory': helper-160)
        raise ValueError(f"sweep spec {p!r} is a directory; give the spec's file (a .toml, or a .json file)")
    if p.lower().endswith(".json"):                  # the same table as JSON (it was parsed as TOML: helper-160)
        with open(p, "rb") as fh:
            try:
                spec = json.load(fh)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(f"sweep spec {p!r} is not valid JSON: {exc}") from None
        if not isinstance(spec, dict):
            raise ValueError(f"sweep spec {p!r} must hold a JSON object (the spec's table), got {type(spec).__name__}")
        return spec
    with open(p, "rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"sweep spec {p!r} is not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"sweep spec {p!r} is not UTF-8 text ({exc.reason} at byte {exc.start}); TOML files "
                             "are UTF-8: save it as UTF-8") from None


def as_tasks(tasks) -> list[Task]:
    """Tasks from a spec file path, a spec dict, or an iterable of :class:`Task`."""
    if isinstance(tasks, (str, os.PathLike)):
        return tasks_from_spec(load_spec(tasks))
    if isinstance(tasks, Mapping):
        return tasks_from_spec(tasks)
    if isinstance(tasks, Task):
        tasks = [tasks]
    try:
        out = list(tasks)
    except TypeError:
        raise TypeError(f"tasks must be a spec (TOML path or dict) or an iterable of Task, got "
                        f"{type(tasks).__name__}") from None
    bad = [type(t).__name__ for t in out if not isinstance(t, Task)]
    if bad:
        raise TypeError(f"tasks must be Task objects (solvers.sweep.Task), got {bad[0]}")
    check_unique(out)
    return out


__all__ = ["Task", "tasks_from_spec", "load_spec", "as_tasks", "resolve_factory", "canonical", "check_unique",
           "SPEC_KEYS"]
