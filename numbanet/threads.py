"""How many threads the parallel kernels use. numba reads NUMBA_NUM_THREADS once, at import;
set_num_threads can lower the count below that ceiling at any time."""
import numba


def thread_ceiling():
    """NUMBA_NUM_THREADS: the most threads set_num_threads accepts."""
    return numba.config.NUMBA_NUM_THREADS


def set_num_threads(n):
    ceiling = thread_ceiling()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of threads must be a positive int, got {n!r}")
    if n > ceiling:
        raise ValueError(f"number of threads must be at most {ceiling} (NUMBA_NUM_THREADS, fixed when "
                         f"numba starts; set that variable before importing numbanet to raise it), got {n}")
    numba.set_num_threads(n)


def get_num_threads():
    return numba.get_num_threads()
