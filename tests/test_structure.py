"""The shape of the code, checked: modules talk through public names, imports do not go in circles, and
the layer contract carries nothing but arrays and the context."""
import ast
import inspect
import json
import os
import pathlib
import subprocess
import sys

import numbanet
from numbanet import layers, quantization

PACKAGE = pathlib.Path(numbanet.__file__).parent
# Imported where they are used, because they are optional (or differ between numpy versions).
OPTIONAL = ('mpi4py', 'onnx', 'numba.cuda', 'numbanet.kernels.cuda', 'numpy._core', 'numpy.core')


def _modules():
    for path in sorted(PACKAGE.rglob('*.py')):
        name = '.'.join(path.relative_to(PACKAGE.parent).with_suffix('').parts).removesuffix('.__init__')
        yield name, path, ast.parse(path.read_text())


def test_no_module_uses_another_modules_private_names():
    found = []
    for name, path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('numbanet'):
                found += [f"{name}:{node.lineno} imports {node.module}.{a.name}" for a in node.names
                          if a.name.startswith('_')]
            if isinstance(node, ast.Attribute) and node.attr.startswith('_') and not node.attr.startswith('__'):
                owner = node.value
                own = (isinstance(owner, ast.Name) and owner.id in ('self', 'cls')) or (
                    isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == 'super')
                if not own:
                    found.append(f"{name}:{node.lineno} reads {ast.unparse(node)}")
    assert not found, found


def _module_level_imports(tree, known):
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or '').startswith('numbanet'):
            for a in node.names:  # `from numbanet import layers` depends on the module numbanet.layers
                out.add(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
    return out


def test_no_import_cycle():
    modules = {name: tree for name, _, tree in _modules()}
    edges = {name: _module_level_imports(tree, modules) - {name} for name, tree in modules.items()}
    state, cycles = {}, []

    def visit(node, path):
        state[node] = 'open'
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 'open':
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 'done'
    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_imports_inside_functions_are_optional_dependencies_only():
    found = []
    for name, path, tree in _modules():
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                modules = ([f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else
                           [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                found += [f"{name}:{node.lineno} imports {m}" for m in modules
                          if not any(m == o or m.startswith(o + '.') for o in OPTIONAL)]
    assert not found, found


def test_layer_methods_take_arrays_and_the_context_only():
    classes = [c for c in vars(layers).values() if isinstance(c, type) and issubclass(c, layers.Layer)]
    classes.append(quantization.Int8Dense)
    for cls in classes:
        for method, count in (('forward', 3), ('backward', 5)):
            params = list(inspect.signature(getattr(cls, method)).parameters)[1:]
            assert len(params) == count and params[-1] == 'ctx', (cls.__name__, method, params)


def test_importing_numbanet_changes_no_process_wide_setting():
    # A setting made at import (an environment variable, numba's threading layer, numpy's error handling)
    # would reach every other library in the user's process: GOMP_SPINCOUNT once slowed PyTorch 1.5x.
    probe = ("import os, json, numpy, numba\n"
             "state = lambda: (dict(os.environ), numba.config.THREADING_LAYER, numba.config.THREADING_LAYER_PRIORITY,\n"
             "                 numpy.geterr(), numpy.get_printoptions()['precision'])\n"
             "before = state()\n"
             "import numbanet\n"
             "after = state()\n"
             "print(json.dumps([k for k in before[0].keys() | after[0].keys() if before[0].get(k) != after[0].get(k)]))\n"
             "print(before[1:] == after[1:])\n")
    env = {k: v for k, v in os.environ.items() if k not in ('GOMP_SPINCOUNT', 'NUMBA_THREADING_LAYER_PRIORITY')}
    out = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, env=env, check=True).stdout
    changed, rest_same = out.split('\n')[:2]
    assert json.loads(changed) == []
    assert rest_same == 'True'
