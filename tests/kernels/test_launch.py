"""Parallel loops on numba's threading layer without parfors (kernels/cpu/_launch.py): every piece of [0, n)
runs exactly once, on several threads when asked, a refused call writes nothing, and a caller loaded from
numba's cache in a new process finds that process's threading layer."""
import os
import subprocess
import sys
import textwrap
import threading
import time

import numba
import numpy as np
import pytest

import numbanet
from numbanet.kernels.cpu._compiled import TABLE, slot_for
from numbanet.kernels.cpu._launch import LO_HI, launch, pool

compiled_only = pytest.mark.skipif(os.environ.get('NUMBA_DISABLE_JIT') == '1', reason="relies on numba's threads")


@numba.njit
def _mark(count, start, thread, lo, hi):
    # Every index of the piece: how often it ran, where its piece starts, and which thread ran it.
    for i in range(lo, hi):
        count[i] += 1
        start[i] = lo
        thread[i] = numba.get_thread_id()


def _arrays(n):
    return np.zeros(n, np.int64), np.full(n, -1, np.int64), np.full(n, -1, np.int64)


def _slot(arrays):
    return slot_for(_mark, arrays + LO_HI)


@pytest.fixture
def threads():
    # Sets numba's thread count for the test, and puts the count it found back.
    before = numba.get_num_threads()
    yield numba.set_num_threads
    numba.set_num_threads(before)


@pytest.mark.parametrize('n', [-5, 0, 1, 7, 100, 1001])
@pytest.mark.parametrize('per', [1, 3, 64, 2000, 2**63 - 1])
@pytest.mark.parametrize('count', [1, 2])
def test_every_piece_runs_once(n, per, count, threads):
    threads(min(count, numbanet.threads.thread_ceiling()))
    arrays = _arrays(max(n, 0))
    launch(pool(), TABLE, _slot(arrays), n, per, *arrays)  # n < 0: no pieces
    n = max(n, 0)
    count, start, _ = arrays
    np.testing.assert_array_equal(count, np.ones(n, np.int64))
    np.testing.assert_array_equal(start, np.arange(n) // per * per)


@compiled_only
def test_pieces_run_on_the_callers_thread_count_and_leave_it_as_it_was(threads):
    ceiling = numbanet.threads.thread_ceiling()
    if ceiling < 2:
        pytest.skip('needs NUMBA_NUM_THREADS >= 2')
    for count in (ceiling, 1, 2):
        threads(count)
        for pieces in (1, 2, 8):  # fewer pieces than threads leave threads idle, and change no count
            arrays = _arrays(64)
            launch(pool(), TABLE, _slot(arrays), 64, 64 // pieces, *arrays)
            assert len(set(arrays[2].tolist())) == min(count, pieces)
            assert numba.get_num_threads() == count


@numba.njit
def _busy(out, rounds, lo, hi):
    # A few hundred milliseconds of arithmetic per piece, nothing else.
    for i in range(lo, hi):
        x = 0.0
        for r in range(rounds):
            x = x * 0.5 + r
        out[i] = x


@compiled_only
def test_other_python_threads_run_while_the_pieces_do(threads):
    # As numba's own launch does, the GIL is let go while the threads work (and held for a lone piece).
    if numbanet.threads.thread_ceiling() < 2:
        pytest.skip('needs NUMBA_NUM_THREADS >= 2')
    threads(2)
    out, rounds = np.zeros(2), 20_000_000
    slot = slot_for(_busy, (out, rounds) + LO_HI)
    launch(pool(), TABLE, slot, 2, 1, out, 1)  # compiled before the count starts
    counted, stop = [0], threading.Event()

    def count():
        while not stop.is_set():
            counted[0] += 1
            time.sleep(0)  # lets the GIL go at once when this thread has it: the launch takes it back

    interval = sys.getswitchinterval()
    sys.setswitchinterval(100.0)  # the counter runs only where the GIL is let go on purpose
    counter = threading.Thread(target=count)
    counter.start()
    try:
        seen = []
        for n, per in ((2, 1), (1, 1)):  # two pieces on two threads; one piece, on this thread alone
            before = counted[0]
            launch(pool(), TABLE, slot, n, per, out, rounds)
            seen.append(counted[0] - before)
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        counter.join()
    assert seen[0] > 100 and seen[1] == 0, seen


def test_an_unstarted_pool_runs_every_piece_on_the_calling_thread():
    arrays = _arrays(50)
    launch(np.zeros(2, np.int64), TABLE, _slot(arrays), 50, 7, *arrays)
    np.testing.assert_array_equal(arrays[0], np.ones(50, np.int64))
    assert len(set(arrays[2].tolist())) == 1


@compiled_only
def test_refused_calls_write_nothing():
    arrays = _arrays(20)
    slot = _slot(arrays)
    other = slot_for(_mark, tuple(a.astype(np.int32) for a in arrays) + LO_HI)
    for bad_slot, error in ((other, 'no body compiled for these arguments'), (-1, 'no such slot'),
                            (TABLE.shape[0], 'no such slot')):
        with pytest.raises(TypeError, match=error):
            launch(pool(), TABLE, bad_slot, 20, 4, *arrays)
    with pytest.raises(ValueError, match='per must be at least 1'):
        launch(pool(), TABLE, slot, 20, 0, *arrays)
    with pytest.raises(ValueError, match="pool must be pool"):
        launch(np.zeros(1, np.int64), TABLE, slot, 20, 4, *arrays)
    np.testing.assert_array_equal(arrays[0], np.zeros(20, np.int64))


@compiled_only
def test_a_caller_loaded_from_the_cache_finds_this_process_threads(tmp_path):
    # The cached caller holds no address: it reads the threading layer's from POOL, which pool() fills in each
    # process. Two runs on one cache: the second loads the caller and still splits the work between threads.
    (tmp_path / 'probe_launch.py').write_text(textwrap.dedent('''
        import numba
        from numba import njit
        from numbanet.kernels.cpu._launch import parallel_for

        @njit(cache=True)
        def body(out, lo, hi):
            for i in range(lo, hi):
                out[i] = numba.get_thread_id()

        @njit(cache=True)
        def caller(pool, table, slot, out):
            parallel_for(pool, table, slot, out.shape[0], 4, (out,))
    '''))
    run = textwrap.dedent('''
        import numpy as np, probe_launch
        from numbanet.kernels.cpu._compiled import TABLE, slot_for
        from numbanet.kernels.cpu._launch import LO_HI, pool
        out = np.full(16, -1, np.int64)
        probe_launch.caller(pool(), TABLE, slot_for(probe_launch.body, (out,) + LO_HI), out)
        print(len(set(out.tolist())), sum(probe_launch.caller.stats.cache_hits.values()))
    ''')
    root = os.path.dirname(os.path.dirname(numbanet.__file__))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / 'cache'), NUMBA_NUM_THREADS='2',
               PYTHONPATH=os.pathsep.join([str(tmp_path), root]))
    outputs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, '-c', run], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done.stdout.strip())
    assert outputs == ['2 0', '2 1'], outputs
