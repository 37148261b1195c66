"""The ``newtonkit`` command (also ``python -m solvers``): the application layer.

::

    newtonkit demo [--store runs.h5] [--shape N N N] [--backend numba] [--case NAME]
    newtonkit solve poisson --shape 256 256 [--precond mg] [--method cg] [--rtol 1e-8] [--store runs.h5]
    newtonkit solve ot --n 1000 --eps 1e-3 [--method sns]
    newtonkit runs list STORE [--problem P] [--method M] [--backend B] [--status S] [--tag K=V] [--sort FIELD [--reverse]]
    newtonkit runs show STORE RUN_ID | runs plot STORE [RUN_ID ...] [--metric residual] [--by method] [-o out.png]
    newtonkit runs export STORE --csv out.csv | --parquet out.parquet
    newtonkit runs merge OUT STORE [STORE ...] | runs compact STORE
    newtonkit solve nlp HS47 [--sketch gaussian] | solve control --n 128 [--semilinear] | solve bratu --shape 256 256 --lam 6
    newtonkit sweep SPEC.toml --store runs/ [--scheduler ADDRESS] [--insecure] [--retry-failed] [--dry-run]
    newtonkit approx lattice --size 24 24 4 --tol 1e-7 [--store runs.h5]
    newtonkit info

Exit codes: 0 success, 1 a solve did not converge, 2 usage error (bad
arguments, missing file or run id, a damaged run store, unavailable backend or
optional package, or a problem too large for this machine's memory: the need is
estimated from the sizes before anything is allocated and compared with
:func:`problems._checks.memory_limit`, ``NEWTONKIT_MEMORY_LIMIT`` bytes or 3/4
of the physical memory; the message gives both figures), 3 an internal error
(an exception no check foresaw: one line on stderr, the traceback with
``NEWTONKIT_DEBUG=1``; please report it), 130 interrupted, 143 terminated
(SIGTERM, ``newtonkit sweep``). ``--json`` output is strict JSON: NaN and
infinities are written as ``null``.

Layout: one module per command (:mod:`.demo`, :mod:`.solve`, :mod:`.runs`,
:mod:`.info`, :mod:`.sweep`, :mod:`.approx`), each with ``add_parser(subparsers)``; shared tables, numbers,
plots and progress callbacks in :mod:`._format`. This subpackage is the only
part of :mod:`solvers` that may import :mod:`problems` (``tests/test_layering.py``
checks it); the command line only parses, builds problems with the
``problems`` constructors, calls :func:`solvers.solve` and prints.

Extending: a new command is a module with ``add_parser`` listed in
:data:`COMMANDS`; a new ``newtonkit solve <kind>`` is one entry of
:data:`solvers.cli.solve.SOLVE_KINDS`; a new demo case one entry of
:func:`solvers.cli.demo.demo_cases`.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from typing import Sequence

from ._format import format_table

EXIT_OK, EXIT_NOT_CONVERGED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

#: command modules, in the order ``newtonkit --help`` lists them
COMMANDS = ("demo", "solve", "runs", "sweep", "approx", "info")


class UsageError(Exception):
    """A problem with the command line or its inputs (exit code 2)."""


def add_common_solve(p: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--no-progress``, shared by the commands that solve."""
    p.add_argument("--backend", default="numba", choices=["numba", "numpy", "cupy"],
                   help="array backend (default: numba)")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``newtonkit`` (every command registers its own subparser)."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="newtonkit", description="newtonkit: Newton, Krylov, multigrid and optimal-transport solvers "
        "on NumPy / Numba / CuPy backends, with runs stored in HDF5.",
        epilog="exit codes: 0 ok, 1 a solve did not converge, 2 usage error, 3 internal error (rerun with "
        "NEWTONKIT_DEBUG=1 for the traceback), 130 interrupted")
    parser.add_argument("--version", action="version", version=f"newtonkit {__version__}")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for the Numba kernels (default: NEWTONKIT_NUM_THREADS or all cores)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM during a command that turns it into a clean stop (``newtonkit sweep``; exit code 143).

    A subclass of KeyboardInterrupt, so it takes the paths Ctrl-C takes (Dask cancels the pending
    futures, the stored runs are indexed, the cluster is closed)."""


@contextlib.contextmanager
def sigterm_stops_cleanly():
    """Within the block a SIGTERM (``kill PID``, a batch system's time limit) raises :class:`Terminated`
    in the main thread instead of ending the process at once. Only when SIGTERM has its default action and
    this is the main thread (nothing else's handler is replaced); a second SIGTERM ends the process as usual."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):  # noqa: ARG001
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated("SIGTERM")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _interrupted(exc: BaseException):
    """The KeyboardInterrupt (or :class:`Terminated`) that caused ``exc``, else None (Numba re-raises one
    from a compiled function as ``SystemError: ... returned a result with an exception set``)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _stopped(signal_exc: KeyboardInterrupt) -> int:
    """One line and the exit code of a stop by Ctrl-C (130) or SIGTERM (:class:`Terminated`, 143)."""
    if isinstance(signal_exc, Terminated):
        print("newtonkit: terminated (SIGTERM)", file=sys.stderr)
        return 128 + 15
    print("newtonkit: interrupted", file=sys.stderr)
    return 130


def _target_of(name) -> str:
    """The file a temporary file stands for: ``dir/.x.csv.tmp-<suffix>`` -> ``dir/x.csv``."""
    import re

    head, tail = os.path.split(os.fsdecode(name))
    m = re.fullmatch(r"\.(.+)\.tmp-[^/]*", tail)
    return os.path.join(head, m.group(1)) if m else os.fsdecode(name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``newtonkit`` command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    saved = []
    for stream in (sys.stdout, sys.stderr):
        # a stored tag or message may hold text the terminal's encoding cannot show (a lone
        # surrogate): print its backslash escape instead of failing half-way through a table;
        # the streams' own setting is restored afterwards (main may run inside a longer process)
        try:
            errors = stream.errors
            stream.reconfigure(errors="backslashreplace")
            saved.append((stream, errors))
        except (AttributeError, ValueError, OSError):
            pass
    import warnings

    show = warnings.showwarning
    if not os.environ.get("NEWTONKIT_DEBUG"):      # a warning is one line, not a source location and line
        warnings.showwarning = _one_line_warning
    out = sys.stdout
    if out is not None:               # (None with fd 1 closed: print then writes nothing)
        sys.stdout = _QuietPipe(out)  # a reader gone mid-command: the command still stores and exits as it should
    try:
        return _run(args)
    finally:
        sys.stdout = out
        warnings.showwarning = show
        for stream, errors in saved:
            try:
                stream.reconfigure(errors=errors)
            except (AttributeError, ValueError, OSError):
                pass


class _QuietPipe:
    """``sys.stdout`` for a command: once the reader of a pipe has gone (``newtonkit solve ... | head -1``), writes
    go to the null device instead of raising BrokenPipeError. The error used to end the command where it was
    printing: a solve's run was not stored, and a failed solve or sweep exited 0 (helper-133)."""

    def __init__(self, stream):
        self._stream, self.broken = stream, False

    def write(self, text):
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._broke()
        return len(text)

    def flush(self):
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._broke()

    def _broke(self):
        self.broken = True
        try:                          # the interpreter's own flush at exit must not raise either
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"newtonkit: warning: {message}", file=sys.stderr if file is None else file)


def _run(args) -> int:
    """The chosen command, its errors turned into exit codes (:func:`main`)."""
    from ..backends import BackendUnavailableError

    try:
        from .. import _workspace

        _workspace._limit()           # NEWTONKIT_WORKSPACE_MB checked up front (the pool reads it for large arrays only)
        if args.threads is not None:
            from .. import _config

            try:
                _config.set_num_threads(args.threads)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"--threads: {exc}") from None
        return int(args.func(args))
    except BrokenPipeError:  # `newtonkit runs list f.h5 | head`: stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_OK
    except (UsageError, ValueError, TypeError, KeyError, OSError, BackendUnavailableError) as exc:
        if os.environ.get("NEWTONKIT_DEBUG"):
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, OSError) and exc.strerror and exc.errno is not None:
            # without the "[Errno N]" prefix; a hidden temporary file ('.out.csv.tmp-123') named as its target
            msg = exc.strerror if exc.filename is None else f"{_target_of(exc.filename)}: {exc.strerror}"
        print(f"newtonkit: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError as exc:   # an allocation the estimates did not foresee
        if os.environ.get("NEWTONKIT_DEBUG"):
            raise
        print(f"newtonkit: error: out of memory ({exc or 'allocation failed'}); use a smaller problem",
              file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        return _stopped(exc)
    except Exception as exc:  # noqa: BLE001 - a defect (or a library's RuntimeError): one line, not a traceback
        cause = _interrupted(exc)  # Ctrl-C inside a compiled kernel surfaces as a SystemError caused by it
        if cause is not None:
            return _stopped(cause)
        if os.environ.get("NEWTONKIT_DEBUG"):
            raise
        text = " ".join(str(exc).split()) or "(no message)"
        print(f"newtonkit: internal error: {type(exc).__name__}: {text} (rerun with NEWTONKIT_DEBUG=1 for the "
              "traceback, and please report it)", file=sys.stderr)
        return EXIT_INTERNAL


__all__ = ["main", "build_parser", "UsageError", "EXIT_OK", "EXIT_NOT_CONVERGED", "EXIT_USAGE", "EXIT_INTERNAL",
           "COMMANDS", "add_common_solve", "format_table", "Terminated", "sigterm_stops_cleanly"]
