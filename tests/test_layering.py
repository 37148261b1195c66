"""Layering: the core (`solvers`) never imports `problems`, except the command line `solvers/cli/`;
`problems` never imports the command line. Checked on the source with `ast`, so an import inside a
function counts too (module names built at run time for importlib are out of scope)."""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path, base: Path):
    """(line, module) for every import in ``path``; relative imports are resolved against its package
    (``base`` is the directory holding the top-level package). ``from a import b`` yields ``a`` and ``a.b``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = list(path.relative_to(base).with_suffix("").parts[:-1])  # module's package (also for __init__)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package[:len(package) - (node.level - 1)] + ([node.module] if node.module else [])
                mod = ".".join(parts)
            else:
                mod = node.module or ""
            yield node.lineno, mod
            for alias in node.names:  # `from solvers import cli` imports solvers.cli
                yield node.lineno, f"{mod}.{alias.name}" if mod else alias.name


def _violations(base: Path, root: str, forbidden: str, allowed_under: str | None = None) -> list[str]:
    """``file:line: imports module`` for every import of ``forbidden`` (or a submodule) under ``root``."""
    out = set()
    for path in sorted((base / root).rglob("*.py")):
        rel = path.relative_to(base).as_posix()
        if allowed_under and rel.startswith(allowed_under):
            continue
        for line, mod in _imports(path, base):
            if mod == forbidden or mod.startswith(forbidden + "."):
                out.add(f"{rel}:{line}: imports {mod}")
    return sorted(out)


def test_core_never_imports_problems():
    bad = _violations(REPO, "solvers", "problems", allowed_under="solvers/cli/")
    assert not bad, "solvers/ (outside solvers/cli/) must not import problems:\n" + "\n".join(bad)


def test_problems_never_import_the_command_line():
    bad = _violations(REPO, "problems", "solvers.cli")
    assert not bad, "problems/ must not import solvers.cli:\n" + "\n".join(bad)


def test_checker_finds_every_import_form_with_file_and_line(tmp_path):
    pkg = tmp_path / "solvers" / "ot"
    pkg.mkdir(parents=True)
    (tmp_path / "solvers" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .. import cli  # noqa\n")          # relative: solvers.cli
    (pkg / "a.py").write_text("import numpy\n\n\ndef f():\n    import problems.ot as o\n")
    (pkg / "b.py").write_text("from problems import pde\nfrom solvers import cli\n")
    (tmp_path / "solvers" / "cli").mkdir()
    (tmp_path / "solvers" / "cli" / "demo.py").write_text("from problems import pde\n")  # allowed there
    bad = _violations(tmp_path, "solvers", "problems", allowed_under="solvers/cli/")
    assert bad == ["solvers/ot/a.py:5: imports problems.ot",
                   "solvers/ot/b.py:1: imports problems", "solvers/ot/b.py:1: imports problems.pde"]
    assert _violations(tmp_path, "solvers", "solvers.cli", allowed_under="solvers/cli/") == [
        "solvers/ot/__init__.py:1: imports solvers.cli", "solvers/ot/b.py:2: imports solvers.cli"]


def test_the_command_line_is_a_package_of_small_modules():
    cli = REPO / "solvers" / "cli"
    assert not (REPO / "solvers" / "cli.py").exists()
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in cli.glob("*.py")}
    assert {"__init__.py", "demo.py", "solve.py", "runs.py", "info.py"} <= set(sizes)
    assert max(sizes.values()) <= 300, sizes


def test_test_module_basenames_do_not_collide():
    """pytest imports a test module of a directory without ``__init__.py`` by its basename: two such files of one
    name stop the whole run at collection ('import file mismatch'; session 25 had five pairs before the first
    full run)."""
    from collections import defaultdict
    from pathlib import Path

    root = Path(__file__).resolve().parent
    seen = defaultdict(list)
    for p in root.rglob("test_*.py"):
        if not (p.parent / "__init__.py").exists():
            seen[p.name].append(str(p.relative_to(root)))
    assert not {k: v for k, v in seen.items() if len(v) > 1}
