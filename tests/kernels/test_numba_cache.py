"""The Numba cache fallback (:func:`solvers._config.numba_cache_fallback`): with no writable place for
Numba's cache beside the sources or in the user's home, the kernels still compile and run, cached in a
private folder."""
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from solvers import _config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(code, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(TMPDIR=str(tmp_path), PYTHONPATH=ROOT, NEWTONKIT_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                         timeout=300, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


NO_LOCATOR = """
    import numba.core.caching as c
    for name in ("InTreeCacheLocator", "UserWideCacheLocator"):      # neither beside the sources nor in $HOME
        setattr(getattr(c, name), "from_function", classmethod(lambda cls, f, p: None))
    import numpy as np, numba
    from solvers._kernels.numba import krylov
    import os, stat
    a = np.arange(5.0)
    print(numba.config.CACHE_DIR, krylov.dot(a, a), oct(stat.S_IMODE(os.stat(numba.config.CACHE_DIR).st_mode)))
"""


def test_kernels_run_without_a_cache_locator(tmp_path):
    # before the fallback: RuntimeError "cannot cache function 'dot_p': no locator available" on import
    folder, value, mode = _run(NO_LOCATOR, tmp_path)
    assert float(value) == 30.0 and mode == "0o700"
    assert os.path.dirname(folder) == str(tmp_path / f"newtonkit-numba-{os.getuid()}")   # <shared>/<digest>
    assert any(f.endswith(".nbi") for _, _, fs in os.walk(folder) for f in fs)   # it really cached there
    # a second process reuses the same private folder
    assert _run(NO_LOCATOR, tmp_path)[0] == folder


def test_a_folder_others_can_write_is_not_used(tmp_path):
    shared = tmp_path / f"newtonkit-numba-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)                                   # planted by someone else: cached code is trusted
    folder, value, mode = _run(NO_LOCATOR, tmp_path)
    assert float(value) == 30.0 and mode == "0o700"             # mkdtemp: private
    # compared as paths, not strings: mkdtemp's random suffix may begin with the uid's digits (uid 0 in CI)
    assert os.path.commonpath([folder, str(shared)]) != str(shared)
    assert os.path.basename(folder).startswith("newtonkit-numba-") and os.path.basename(folder) != shared.name
    assert not os.path.exists(folder)                            # removed when the process ended


def test_private_folder_checks(tmp_path):
    ok = tmp_path / "mine"
    assert _config._private_folder(str(ok)) == str(ok)
    assert stat.S_IMODE(os.stat(ok).st_mode) == 0o700
    link = tmp_path / "link"
    link.symlink_to(ok)
    assert _config._private_folder(str(link)) is None            # a symlink is not followed
    (tmp_path / "file").write_text("x")
    assert _config._private_folder(str(tmp_path / "file")) is None


@pytest.mark.skipif(not os.environ.get("NUMBA_CACHE_DIR") is None, reason="NUMBA_CACHE_DIR set: Numba has its folder")
def test_no_fallback_when_numba_has_a_locator():
    assert _config.numba_cache_fallback(os.path.join(ROOT, "solvers", "_kernels", "numba", "krylov.py")) is None
