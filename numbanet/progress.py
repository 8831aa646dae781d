"""Keras-style progress output.

verbose=1: `469/469 ━━━━━━━━━━━━━━━━━━━━ 2s 4ms/step - loss: 0.2513 - accuracy: 0.9262`. On a terminal it
redraws in place (at most every 0.1 s); anywhere else (a file, a pipe, CI) it prints only the finished line.
verbose=2: no bar at all, one line when finished: `469/469 - 2s - 4ms/step - loss: 0.2513`.
The clock starts when the bar is made, so make it before the work it measures. A target of None (a generator's
length is known only at its end) draws `12/Unknown` until the finished line, which is given the count.
watch_compiles=True: while numba compiles (not loads) a kernel, say so in place, or once on a line of its own.
"""
import numbers
import sys
import time

from numbanet.kernels.compiling import CompileWatch

COMPILING = 'compiling kernels, first run only'


def _format_value(v):
    if not isinstance(v, numbers.Real):
        return str(v)  # a callback may log anything
    return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.4e}"


def _format_per_step(seconds):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class ProgressBar:
    def __init__(self, target, stream=None, verbose=1, prefix='', width=20, interval=0.1, watch_compiles=False):
        if verbose not in (1, 2):
            raise ValueError(f"a progress bar's verbose must be 1 or 2, got {verbose!r}")
        self.target = target
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self.prefix = prefix  # what the finished line starts with ('Epoch 3/10 - ')
        self.width = width
        self.interval = interval
        self.interactive = verbose == 1 and hasattr(self.stream, 'isatty') and self.stream.isatty()
        encoding = getattr(self.stream, 'encoding', None) or 'ascii'
        try:
            '━'.encode(encoding)
            self.fill, self.empty = '━', '━'
            self.unicode = True
        except (UnicodeEncodeError, LookupError):
            self.fill, self.empty = '=', '.'
            self.unicode = False
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_len = 0
        self.open = False  # a line drawn in place and not yet ended
        self.step, self.said_compiling = 0, False
        self.watch = CompileWatch(self.compiling) if watch_compiles else None

    def unwatch(self):
        if self.watch is not None:
            self.watch.close()

    def compiling(self):
        if self.interactive:  # drawn now: the step that compiles draws nothing until it ends
            target = 'Unknown' if self.target is None else f"{self.target} {self._bar(self.step)}"
            text = f"{self.step}/{target} - {COMPILING}"
            self.stream.write('\r' + text + ' ' * max(0, self._last_len - len(text)))
            self._last_len, self.open = len(text), True
        elif not self.said_compiling:
            self.stream.write(COMPILING + '\n')
            self.said_compiling = True
        self.stream.flush()

    def _bar(self, step):
        done = int(self.width * step / self.target) if self.target else self.width
        if self.unicode and self.interactive:
            # Keras colours the done part; without colour the halves differ only by weight.
            return '\x1b[32m' + self.fill * done + '\x1b[0m' + self.empty * (self.width - done)
        return self.fill * done + self.empty * (self.width - done)

    def line(self, step, values, finished):
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(step, 1)
        if self.verbose == 2:
            text = f"{self.prefix}{step}/{self.target} - {elapsed:.0f}s - {_format_per_step(per_step)}"
        elif self.target is None:
            text = f"{step}/Unknown {elapsed:.0f}s {_format_per_step(per_step)}"
        else:
            when = f"{elapsed:.0f}s" if finished else f"{per_step * (self.target - step):.0f}s"
            text = f"{step}/{self.target} {self._bar(step)} {when} {_format_per_step(per_step)}"
        for name, value in values.items():
            text += f" - {name}: {_format_value(value)}"
        return text

    def update(self, step, values, finished=False):
        """Redraw if due; values is a dict of name -> float (evaluated lazily: a callable is allowed)."""
        now, self.step = time.perf_counter(), step
        if finished:
            self.unwatch()
        if not finished and (not self.interactive or now - self._last_draw < self.interval):
            return
        self._last_draw = now
        if callable(values):
            values = values()
        text = self.line(step, values, finished)
        if self.interactive:
            pad = max(0, self._last_len - len(text))
            self.stream.write('\r' + text + ' ' * pad)
            self._last_len, self.open = len(text), not finished
            if finished:
                self.stream.write('\n')
        elif finished:
            self.stream.write(text + '\n')
        self.stream.flush()

    def end(self):
        self.unwatch()
        if self.open:
            self.stream.write('\n')
            self.stream.flush()
            self.open = False
