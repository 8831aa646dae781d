"""What the command-line examples share: usage errors found before any work, and a word's plural.

The examples import it as a sibling (`python examples/x.py` puts examples/ on sys.path, as `python -m mpi4py
examples/x.py` does)."""


def check_save_path(parser, path):
    """A --save name numbanet would refuse (.keras, .h5) is a usage error before training, not after it."""
    if path is not None:
        from numbanet.saving import check_suffix  # loaded only when the flag is given
        try:
            check_suffix(path)
        except ValueError as e:
            parser.error(f"--save: {e}")


def check_threads(parser, threads):
    """--threads above NUMBA_NUM_THREADS (fixed when numba starts) is a usage error, found before any work."""
    if threads is not None:
        from numbanet.threads import thread_ceiling  # numba loads only when the flag is given
        if threads > thread_ceiling():
            parser.error(f"--threads must be at most {thread_ceiling()} (NUMBA_NUM_THREADS; set that variable to "
                         f"raise it), got {threads}")


def plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"
