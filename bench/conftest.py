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
    """run(group, name, fn): time fn in group with warm-up rounds first (JIT compilation stays out)."""
    def go(group, name, fn, rounds=60, iterations=1):
        # OpenBLAS's idle threads spin for about 0.1 s after numpy's last matmul; let them settle so
        # they do not fight numbanet's threads for the cores.
        time.sleep(0.3)
        benchmark.group = group
        benchmark.name = name
        benchmark.extra_info.update(versions(), framework=name.split()[0])
        benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=5)
    return go


@pytest.fixture(scope='session')
def mnist():
    return workloads.mnist_or_synthetic()
