"""Knowing when numba compiles, through its public event API (numba.core.event, "numba:compile").

numba broadcasts that event only when it really compiles a kernel for a new signature: a kernel loaded from
the on-disk cache, or one already compiled in this process, broadcasts nothing. A listener costs nothing
while nothing compiles (no call of a compiled kernel consults it), so fit's progress bar can listen for a
whole epoch and the steps pay nothing for it.
"""
from numba.core import event


class CompileWatch(event.Listener):
    """Counts the kernels numba starts compiling (nested ones included) and calls on_compile() for each,
    from the moment it is made until close(); also a context manager."""

    def __init__(self, on_compile=None):
        self.on_compile = on_compile
        self.count = 0
        self.open = True
        event.register('numba:compile', self)

    def on_start(self, ev):
        self.count += 1
        if self.on_compile is not None:
            self.on_compile()

    def on_end(self, ev):
        pass

    def close(self):
        if self.open:
            event.unregister('numba:compile', self)
            self.open = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
