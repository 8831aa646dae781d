"""numba's disk cache checks only a kernel's own source file: a cached kernel older than a numbanet module it
imports (matmul.py's gemm calls _tiles.py) may run stale machine code. numbanet.kernels.cache finds such
entries; `python -m numbanet.kernels.cache --clear` removes numbanet's cached kernels."""
import os
import shutil
import subprocess
import sys
import textwrap

from numbanet.kernels import cache


def test_the_kernel_cache_in_use_is_not_stale():
    stale = cache.stale_entries()
    assert not stale, (f"{len(stale)} cached kernels are older than a module they depend on, e.g. "
                       f"{stale[0][0]} ({stale[0][1]} imports {stale[0][2]}): numba would run their old machine "
                       f"code. Clear the cache: python -m numbanet.kernels.cache --clear")


def test_dependencies_follow_imports_through_modules():
    deps = {os.path.relpath(p, cache.KERNELS) for p in cache.dependencies(os.path.join(cache.KERNELS, 'cpu', 'dense.py'))}
    assert {'cpu/matmul.py', 'cpu/_tiles.py'} <= deps and 'cpu/dense.py' not in deps


DEMO = textwrap.dedent('''
    import os, sys
    import numpy as np
    from numbanet.kernels import cache
    from numbanet.kernels.cpu.adagrad import adagrad_update
    assert cache.KERNELS.startswith({root!r}), cache.KERNELS  # the copy, not the working tree
    p = np.ones(8, np.float32)
    adagrad_update(p, np.ones(8, np.float32), np.ones(8, np.float32), 0.1, 1e-7)  # compiled and cached
    print('fresh', len(cache.stale_entries()))
    split = os.path.join(cache.KERNELS, 'cpu', '_split.py')  # adagrad.py imports it
    with open(split, 'a') as f:
        f.write('# changed\\n')
    later = os.path.getmtime(split) + 5
    os.utime(split, (later, later))
    stale = cache.stale_entries()
    print('changed', len(stale), sorted({{os.path.basename(s) for _, s, _ in stale}}))
    assert cache.main([]) == 1
    cache.main(['--clear'])
    print('cleared', len(cache.stale_entries()))
''')


def test_a_changed_dependency_makes_the_cache_stale_until_cleared(tmp_path):
    """In a copy of the package with its own NUMBA_CACHE_DIR: a cached kernel is fresh, goes stale when a
    module it imports changes, and clearing the cache makes the check pass again."""
    root = str(tmp_path / 'copy')
    shutil.copytree(os.path.dirname(cache.PACKAGE) + '/numbanet', root + '/numbanet',
                    ignore=shutil.ignore_patterns('__pycache__'))
    env = dict(os.environ, PYTHONPATH=root, NUMBA_CACHE_DIR=str(tmp_path / 'numba-cache'))
    r = subprocess.run([sys.executable, '-c', DEMO.format(root=root)], env=env, capture_output=True, text=True,
                       cwd=root)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == 'fresh 0'
    assert out[1].startswith('changed ') and int(out[1].split()[1]) > 0 and "['adagrad.py']" in out[1]
    assert 'python -m numbanet.kernels.cache --clear' in r.stdout
    assert out[-1] == 'cleared 0'
