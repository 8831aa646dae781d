"""Ctrl-C during training: a step's update is applied whole or not at all.

SIGINT reaches Python between bytecodes, so it can land between two kernels of one update: some layers a
step ahead of others, or pruned weights moved and not yet masked. While fit runs in the main thread, a
handler holds a SIGINT that arrives inside a critical section and hands it, as the section ends, to the
handler it replaced (Python's raises KeyboardInterrupt). Installing a handler is a system call (about 7 us),
so it is done once per fit, and entering a section only sets a flag.
"""
import contextlib
import signal
import threading


class CriticalSection:
    """`with section:` around what must not be interrupted half-way; held only while `installed()`."""

    def __init__(self):
        self.inside = False
        self.pending = None  # (handler, signum, frame) of a SIGINT held until the section ends

    def __enter__(self):
        self.inside = True

    def __exit__(self, *exc):
        self.inside = False
        if self.pending is not None:
            (handler, *args), self.pending = self.pending, None
            handler(*args)

    @contextlib.contextmanager
    def installed(self):
        previous = signal.getsignal(signal.SIGINT)
        # Only the main thread may set handlers; an ignored (or default, fatal) SIGINT needs no holding.
        if threading.current_thread() is not threading.main_thread() or not callable(previous):
            yield
            return

        def hold(signum, frame):
            if self.inside:
                self.pending = (previous, signum, frame)
            else:
                previous(signum, frame)
        signal.signal(signal.SIGINT, hold)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            self.pending = None
