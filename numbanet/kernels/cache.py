"""The kernels' on-disk numba cache: which entries are stale, and clearing them.

    python -m numbanet.kernels.cache            # list stale entries; exit status 1 if there are any
    python -m numbanet.kernels.cache --clear    # delete numbanet's cached kernels (numba recompiles them)

numba keys a cached function on its own source file only (numba's documented caching limitation; its
dependency tracking, numba PR #8396, is unmerged as of 0.68), so a kernel that calls a jitted function of
another module (matmul.py's gemm calls _tiles.py's rows) keeps its old machine code after that module
changes. No numba option fixes this without a process-wide setting, so instead an entry numba would still
load is called stale when a numbanet module its source imports, directly or not, was modified after the
entry was written: mtimes, so a checkout that rewrites a file unchanged counts as a change too (clearing
then costs one recompile, never a wrong result).
"""
import ast
import hashlib
import os
import sys

import numba
from numba.misc.appdirs import AppDirs

KERNELS = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(KERNELS)


def _kernel_dirs():
    return [root for root, dirs, files in os.walk(KERNELS) if os.path.basename(root) != '__pycache__']


def cache_dirs(source_dir):
    """Where numba may cache the functions of source_dir: its in-tree __pycache__, NUMBA_CACHE_DIR's or
    the user-wide cache's subfolder for it (numba's locators, in the order numba tries them)."""
    sub = os.path.basename(source_dir) + '_' + hashlib.sha1(source_dir.encode()).hexdigest()
    roots = [numba.config.CACHE_DIR] if numba.config.CACHE_DIR else []
    dirs = [os.path.join(r, sub) for r in roots] + [os.path.join(source_dir, '__pycache__'),
                                                   os.path.join(AppDirs('numba', appauthor=False).user_cache_dir, sub)]
    return [d for d in dirs if os.path.isdir(d)]


def _module_file(name):
    """numbanet.a.b as a path in this package (a module or a package's __init__), or None."""
    if name != 'numbanet' and not name.startswith('numbanet.'):
        return None
    base = os.path.join(os.path.dirname(PACKAGE), *name.split('.'))
    for path in (base + '.py', os.path.join(base, '__init__.py')):
        if os.path.isfile(path):
            return path
    return None


def _imports(path):
    names = set()
    for node in ast.walk(ast.parse(open(path, 'rb').read(), path)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from pkg import module` depends on the module, `from module import name` on the module
            for a in node.names:
                names.add(f'{node.module}.{a.name}' if _module_file(f'{node.module}.{a.name}') else node.module)
    return names


def dependencies(path):
    """The numbanet source files path imports, directly or through others (path itself excluded)."""
    seen, todo = set(), [path]
    while todo:
        for name in _imports(todo.pop()):
            dep = _module_file(name)
            if dep is not None and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    seen.discard(path)
    return seen


def _sources(cache_dir, source_dir):
    for name in sorted(os.listdir(cache_dir)):
        if name.endswith('.nbi'):
            yield os.path.join(cache_dir, name), os.path.join(source_dir, name.split('.')[0] + '.py')


def stale_entries():
    """(cached data file, its kernel's source, the newer dependency) for every entry numba would load
    although a module its kernel depends on changed since it was written."""
    stale = []
    for source_dir in _kernel_dirs():
        for cache_dir in cache_dirs(source_dir):
            for index, source in _sources(cache_dir, source_dir):
                if not os.path.isfile(source):
                    continue
                deps = dependencies(source)
                newest = max(deps, key=os.path.getmtime, default=None)
                for data in _read_index(index, source):
                    if newest is not None and os.path.getmtime(data) < os.path.getmtime(newest):
                        stale.append((data, source, newest))
    return stale


def _read_index(index, source):
    # The data files of an index (kernel.func-line.pyXY.nbi -> kernel.func-line.pyXY.<n>.nbc), by name: the
    # index itself is a pickle, which numbanet does not load. An index older than its kernel's own source is
    # one numba will not load (it recompiles and rewrites it), so it is not stale here.
    if os.path.getmtime(index) < os.path.getmtime(source):
        return []
    folder, stem = os.path.dirname(index), os.path.basename(index)[:-len('.nbi')]
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder))
            if name.startswith(stem + '.') and name.endswith('.nbc')]


def clear():
    """Delete every cached numbanet kernel (index and data files); returns how many files went."""
    removed = 0
    for source_dir in _kernel_dirs():
        stems = {name[:-3] for name in os.listdir(source_dir) if name.endswith('.py')}
        for cache_dir in cache_dirs(source_dir):
            for name in os.listdir(cache_dir):
                if name.endswith(('.nbi', '.nbc')) and name.split('.')[0] in stems:
                    os.remove(os.path.join(cache_dir, name))
                    removed += 1
    return removed


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ['--clear']):
        sys.exit("usage: python -m numbanet.kernels.cache [--clear]")
    if args:
        print(f"removed {clear()} cached kernel files")
        return 0
    stale = stale_entries()
    for data, source, dep in stale:
        print(f"stale: {data} ({os.path.relpath(source, PACKAGE)} depends on {os.path.relpath(dep, PACKAGE)}, "
              f"changed since)")
    if stale:
        print("clear numbanet's kernel cache with: python -m numbanet.kernels.cache --clear")
    return 1 if stale else 0


if __name__ == '__main__':
    sys.exit(main())
