"""Data-parallel training over MPI. The multi-rank checks run under `mpirun -n 2` in subprocesses (CI
installs Open MPI and mpi4py); the rest need neither."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.helpers import mlp


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT, OMPI_ALLOW_RUN_AS_ROOT='1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1',
           OMPI_MCA_rmaps_base_oversubscribe='1')

needs_mpi = pytest.mark.skipif(shutil.which('mpirun') is None or
                               __import__('importlib.util').util.find_spec('mpi4py') is None,
                               reason="needs Open MPI (apt-get install openmpi-bin) and mpi4py")


def _python(code, env=None):
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env or ENV, capture_output=True, text=True,
                          timeout=300)


def _warm_kernels():
    # Compile the kernels once here, so two ranks do not compile them at the same time on two cores.
    model = mlp()
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(np.zeros((8, 12), np.float32), np.zeros(8, np.int64), verbose=0)


def test_importing_numbanet_does_not_import_mpi():
    proc = _python("import sys, numbanet; numbanet.distributed; print('mpi4py' in sys.modules)")
    assert proc.returncode == 0 and proc.stdout.strip() == 'False', proc.stderr


def test_without_mpi4py_distributed_fit_trains_in_one_process():
    code = ("import sys, warnings; sys.modules['mpi4py'] = None\n"
            "import numpy as np, numbanet\nfrom tests.helpers import mlp\n"
            "a, b = mlp(seed=2), mlp(seed=2)\n"
            "for m in (a, b): m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
            "x = np.random.default_rng(0).standard_normal((40, 12)).astype('float32'); y = np.arange(40) % 5\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    a.fit(x, y, epochs=2, verbose=0, distributed=True)\n"
            "b.fit(x, y, epochs=2, verbose=0)\n"
            "print(all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights())),"
            " any('mpi4py is not installed' in str(i.message) for i in w))")
    proc = _python(code)
    assert proc.returncode == 0 and proc.stdout.split() == ['True', 'True'], proc.stdout + proc.stderr


@needs_mpi
def test_single_process_under_mpi_trains_as_a_plain_fit():
    code = ("import numpy as np, numbanet\nfrom tests.helpers import mlp\n"
            "a, b = mlp(seed=2), mlp(seed=2)\n"
            "for m in (a, b): m.compile(optimizer='adam', loss='sparse_categorical_crossentropy')\n"
            "x = np.random.default_rng(0).standard_normal((40, 12)).astype('float32'); y = np.arange(40) % 5\n"
            "a.fit(x, y, epochs=2, verbose=0, distributed=True); b.fit(x, y, epochs=2, verbose=0)\n"
            "print(numbanet.distributed.size(), all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights())))")
    proc = _python(code)
    assert proc.returncode == 0 and proc.stdout.split() == ['1', 'True'], proc.stdout + proc.stderr


@needs_mpi
def test_two_ranks_match_one_process_and_agree():
    _warm_kernels()
    proc = subprocess.run(['mpirun', '-n', '2', sys.executable, '-m', 'mpi4py',
                           os.path.join(ROOT, 'tests', 'mpi_programs', 'equivalence.py')],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and 'OK' in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]


@needs_mpi
@pytest.mark.parametrize('launcher', [['python', '-m', 'mpi4py'], ['python']])
def test_a_failing_rank_ends_the_job_with_its_traceback(launcher):
    # numbanet aborts the job itself; `python -m mpi4py` would too, for errors outside fit.
    _warm_kernels()
    start = time.perf_counter()
    proc = subprocess.run(['mpirun', '-n', '2', sys.executable] + launcher[1:] +
                          [os.path.join(ROOT, 'tests', 'mpi_programs', 'failing_rank.py')],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert proc.returncode != 0 and 'not reached' not in proc.stdout
    assert 'rank 1 lost its data source' in proc.stderr and 'Traceback' in proc.stderr
    assert elapsed < 60, f"the job took {elapsed:.0f} s to die"


@needs_mpi
@pytest.mark.parametrize('what,message', [
    ('batch_size', 'batch_size: rank 0 has 8, rank 1 has 16'),
    ('rows', 'rows: rank 0 has 69, rank 1 has 60'),
    ('width', r'weights: rank 0 has \[\[\[10, 12\]'),
    ('input', 'rank 1 raised ValueError'),  # refused by rank 1's own input check, before any collective
])
def test_ranks_that_disagree_end_the_job_naming_the_difference(what, message):
    # Launched without `-m mpi4py`: numbanet ends the job itself. A hang ends in TimeoutExpired.
    _warm_kernels()
    proc = subprocess.run(['mpirun', '-n', '2', sys.executable,
                           os.path.join(ROOT, 'tests', 'mpi_programs', 'mismatch.py'), what],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and 'not reached' not in proc.stdout
    assert 'MPI_ERR_TRUNCATE' not in proc.stderr
    import re
    assert re.search(message, proc.stderr), proc.stderr[-3000:]
