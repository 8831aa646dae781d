"""How the optimizer kernels share a flat buffer between threads: above PARALLEL_MIN elements, a prange over
slices of CHUNK elements, so no two threads write one cell and every element sees the same arithmetic
(results do not depend on the thread count).

Why threads pay here, unlike for other elementwise kernels (probes.md keeps those serial below a million
elements): an Adam step streams seven float32 arrays (four read, three written), 6.8 MB for the reference
MLP's 242,762 parameters, more than one core's L2; each core brings its own L2 and bandwidth. On the 2-core
development machine `python -m pytest bench/test_kernels.py -k adam` gave a median of 78 us (min 51) on two
threads; the serial loop took 116-155 us in the same session, and the prange path on one thread 5% more
than the serial loop. Chunks of 4,096 to 121,381 elements were within noise of each other.

Threads get slices, not index ranges: a loop from 0 lets numba drop its negative-index wraparound check,
which otherwise blocks vectorisation (a loop from lo to hi ran 3x slower)."""
from numbanet.kernels.cpu._jit import njit

PARALLEL_MIN = 1 << 15
CHUNK = 1 << 14


def parallel(n):
    return n >= PARALLEL_MIN


@njit(cache=True)
def chunks(n):
    return (n + CHUNK - 1) // CHUNK
