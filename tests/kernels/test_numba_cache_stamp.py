"""The Numba kernel package drops its in-tree cache when any of its sources changes."""
from pathlib import Path

from solvers._kernels import numba as nbk


def _package(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "b.py").write_text("y = 2\n")
    return pkg


def test_stale_cache_removed_when_a_sibling_source_changes(tmp_path):
    pkg = _package(tmp_path)
    assert nbk.drop_stale_cache(pkg) is False              # first stamp: nothing cached yet
    cached = [pkg / "__pycache__" / "a.f-1.py311.nbi", pkg / "__pycache__" / "a.f-1.py311.1.nbc"]
    for f in cached:
        f.write_bytes(b"machine code")
    assert nbk.drop_stale_cache(pkg) is False              # sources unchanged: cache kept
    assert all(f.exists() for f in cached)
    (pkg / "b.py").write_text("y = 3\n")                  # a helper module edited, a.py untouched
    assert nbk.drop_stale_cache(pkg) is True
    assert not any(f.exists() for f in cached)
    assert (pkg / "__pycache__" / "newtonkit-kernel-sources.sha256").read_text() == nbk.sources_digest(pkg)


def test_digest_depends_on_names_and_bytes(tmp_path):
    pkg = _package(tmp_path)
    d0 = nbk.sources_digest(pkg)
    (pkg / "a.py").rename(pkg / "c.py")
    assert nbk.sources_digest(pkg) != d0


def test_read_only_folder_is_not_an_error(tmp_path):
    missing = tmp_path / "does-not-exist"
    assert nbk.drop_stale_cache(missing) is False
