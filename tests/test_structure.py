"""The shape of the code, checked: modules talk through public names, imports do not go in circles, and
the layer contract carries nothing but arrays and the context."""
import ast
import inspect
import pathlib

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
