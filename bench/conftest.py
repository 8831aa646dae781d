"""Conventions of the benchmarks in bench/ (pytest-benchmark).

Each benchmark calls `run(name, framework, fn)`:

- The name carries the workload and its shape, `dense_forward[128x784x256]`; a peer's name adds the peer,
  `dense_forward[128x784x256] numpy`. The test's id carries the same shape and framework, and that node id
  is what a saved run is matched by, so `--benchmark-compare` compares shape by shape.
- The group is the name: numbanet and every peer each get a group of their own, rather than STYLE.md's one
  group per workload, which mixes the peers into every regression comparison. Compared with a saved run, a group then holds one
  benchmark now and the same benchmark then, and its "relative" column is the change, not a mix of the
  change and the distance to numpy. Groups sort by name, so each peer's table follows numbanet's; for one
  table per kernel with every shape's numbanet row above its peers' (read as a ratio), pass
  `--benchmark-group-by=func --benchmark-sort=name`.
- numbanet's benchmarks carry the `numbanet` marker; the regression check runs `-m numbanet` alone, so
  the references, which fluctuate with their own thread pools, can neither fail it nor disturb it.
- `fn` is called for 0.1 s, untimed, before pytest-benchmark calibrates and times it: JIT compilation
  stays out. After that it is plain `benchmark(fn)`, so --benchmark-max-time, --benchmark-min-rounds and
  the rest apply; bench/pytest.ini holds the defaults (all of `python -m pytest bench/`: about a minute).
- Threads and versions go into each benchmark's extra_info, and so into saved runs.
"""
import os
import platform
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numbanet  # noqa: E402
import workloads  # noqa: E402


def versions():
    import numba
    info = {'numbanet': numbanet.__version__, 'numba': numba.__version__, 'numpy': np.__version__,
            'numba_threads': numbanet.get_num_threads(), 'threading_layer': os.environ.get(
                'NUMBA_THREADING_LAYER_PRIORITY', ''), 'machine': platform.machine(), 'cpus': os.cpu_count(),
            'OPENBLAS_CORETYPE': os.environ.get('OPENBLAS_CORETYPE', '(unset)')}
    if workloads.installed('torch'):
        import torch
        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    return info


@pytest.fixture
def run(benchmark):
    """run(name, framework, fn): warm fn up once, then time it as `name` (a peer's as `name framework`)."""
    def go(name, framework, fn):
        benchmark.name = name if framework == 'numbanet' else f'{name} {framework}'
        benchmark.group = benchmark.name
        benchmark.extra_info.update(versions(), framework=framework)
        if benchmark.enabled:
            # OpenBLAS's idle threads spin for about 0.1 s after numpy's last matmul; let them settle so
            # they do not fight numbanet's threads for the cores.
            time.sleep(0.3)
            # Warm up: compile, then 0.1 s of calls, so that caches and thread pools are hot when
            # pytest-benchmark times its first call, from which it works out how many rounds to run.
            end = time.perf_counter() + 0.1
            fn()
            while time.perf_counter() < end:
                fn()
        benchmark(fn)
    return go


@pytest.fixture(scope='session')
def mnist():
    return workloads.mnist_or_synthetic()
