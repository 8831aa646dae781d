"""How the optimizer kernels share a flat buffer between threads: split(part, n, *args) runs
part(*args, lo, hi) over [0, n), in one piece below PARALLEL_MIN elements, above it in pieces of CHUNK shared
out between numba's threads (_launch.py), so no two threads write one cell and every element sees the same
arithmetic (results do not depend on the thread count). A part slices its arrays to [lo, hi) and loops over
the slices from 0: that lets numba drop its negative-index wraparound check, which otherwise blocks
vectorisation (a loop from lo to hi ran 3x slower). A check part sets flag[0] = 1 when its piece fails, so
several threads may store the same 1 into it: nothing reads it until all have finished.

Why threads pay here, unlike for other elementwise kernels (probes.md keeps those serial below a million
elements): an Adam step streams seven float32 arrays (four read, three written), 6.8 MB for the reference
MLP's 242,762 parameters, more than one core's L2; each core brings its own L2 and bandwidth. On the 2-core
development machine `python -m pytest bench/test_kernels.py -k adam` gave a median of 78 us (min 51) on two
threads; the serial loop took 116-155 us in the same session, and the parallel path on one thread 5% more
than the serial loop. Chunks of 4,096 to 121,381 elements were within noise of each other."""
from numbanet.kernels.cpu._launch import run

PARALLEL_MIN = 1 << 15
CHUNK = 1 << 14


def parallel(n):
    return n >= PARALLEL_MIN


def split(part, n, *args):
    """part(*args, lo, hi) for pieces [lo, hi) covering [0, n): one piece, or CHUNK-sized ones on threads."""
    if parallel(n):
        run(part, n, CHUNK, *args)
    else:
        part(*args, 0, n)
