"""Where fit, evaluate and predict get their batches, under Keras 3's rules (its trainers/epoch_iterator.py).

Three kinds of data. Arrays go to the device once and each step gathers its rows there (the fast path). A
Python generator or iterator yields batches; a utils.PyDataset gives batch i as dataset[i]. A batch is
(x, y) or (x, y, sample_weight) for fit and evaluate, x or (x,) for predict; a list counts as a tuple, as in
Keras, so a model with two inputs takes ((x1, x2), y). Batches may differ in size (the last is often
smaller): the model keeps a plan per size. Each batch is checked before it is used, and a bad one is refused
naming its step and what it held; the first is checked before fit changes anything.

An epoch is steps_per_epoch batches when that is given, carrying on across epochs from where the previous
one stopped; otherwise it is one pass over the data: every batch of the arrays or the PyDataset, or the
generator until it ends (so an endless generator needs steps_per_epoch, and a PyDataset without an end is
refused without it). Data that runs out before steps_per_epoch ends the epoch with Keras's warning; a
generator has nothing left for another pass, so an epoch that gets no batch at all stops training. A
PyDataset's on_epoch_begin() and on_epoch_end() run around every epoch, and with shuffle=True its batches
come in a new order each pass.

Every epoch yields (xs, y, weights, rows): arrays on the device (y and weights None where there are none)
and the device array of row numbers that make the batch, which the model gathers into its buffers.
"""
import collections.abc
import itertools
import math
import warnings

import numpy as np

from numbanet.utils import PyDataset

_END = object()
RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
           "generate at least `steps_per_epoch * epochs` batches.")


def is_stream(x):
    """A generator, an iterator or a PyDataset: data that comes a batch at a time."""
    return isinstance(x, (PyDataset, collections.abc.Iterator))


def unpack(batch):
    """Keras's unpack_x_y_sample_weight: (x, y, sample_weight), None for what the batch leaves out."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if len(batch) > 3:
        raise ValueError(f"a batch is x, (x,), (x, y) or (x, y, sample_weight), not a tuple of {len(batch)}")
    return batch + (None,) * (3 - len(batch))


def describe(value):
    """Types and shapes, not values: what a batch held, for an error message."""
    if isinstance(value, (tuple, list)):
        inner = ', '.join(describe(v) for v in value[:4]) + (', ...' if len(value) > 4 else '')
        return f"{type(value).__name__}({inner})"
    shape = getattr(value, 'shape', None)
    if shape is not None and hasattr(value, 'dtype'):
        return f"{type(value).__name__} {value.dtype} {tuple(shape)}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


class Batches:
    """The epochs of one source of batches: `steps` batches each, or one pass when steps is None.
    A subclass makes one pass (pass_batches) and says how long a pass is (pass_length, None: unknown)."""

    pass_length = None

    def __init__(self, steps):
        self.steps = steps
        self.step = 0  # the step of the epoch being fetched, for error messages
        self._pass = None
        self._taken = 0  # batches taken from the current pass

    @property
    def steps_per_epoch(self):
        """How many steps an epoch has, for the progress bar; None when only the end of the data will say."""
        return self.steps if self.steps is not None else self.pass_length

    def epoch(self):
        self.on_epoch_begin()
        if self._pass is None or self.steps is None:
            self._pass, self._taken = self.pass_batches(), 0
        step = 0
        while self.steps is None or step < self.steps:
            self.step = step
            batch = next(self._pass, None)
            if batch is None:
                self._pass = None
                if self.steps is not None or step == 0:
                    warnings.warn(RAN_OUT, UserWarning, stacklevel=3)
                break
            self._taken += 1
            yield batch
            step += 1
        if self.pass_length is not None and self._taken >= self.pass_length:
            self._pass = None  # the next epoch starts a new pass (a new shuffle)
        self.on_epoch_end()

    def pass_batches(self):
        raise NotImplementedError

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass


class ArrayBatches(Batches):
    """Arrays on the device: each pass a permutation of the rows (their order without shuffle), sharded
    across processes (comm.shard), then batch_size rows a step; the longest shard sets the steps."""

    def __init__(self, xs, y, weights, batch_size, backend, comm, steps=None, shuffle=False, rng=None):
        super().__init__(steps)
        self.xs, self.y, self.weights = xs, y, weights
        self.batch_size, self.backend, self.comm = batch_size, backend, comm
        self.shuffle, self.rng = shuffle, rng
        self.n = xs[0].shape[0]
        self.pass_length = math.ceil(math.ceil(self.n / comm.size) / batch_size)

    def pass_batches(self):
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        rows = self.backend.to_device(self.comm.shard(order))
        size = self.batch_size
        for step in range(self.pass_length):
            yield self.xs, self.y, self.weights, rows[step * size:(step + 1) * size]


class StreamBatches(Batches):
    """Batches that arrive one at a time. check(batch) turns one into checked host arrays (xs, y, weights) or
    raises; where ('fit', 'validation_data', ...) names the data in errors. A subclass fetches and checks
    the first batch when it is made, so bad data is refused before fit changes anything."""

    kind = None

    def __init__(self, check, backend, where, steps):
        super().__init__(steps)
        self.check, self.backend, self.where = check, backend, where
        self._rows = {}  # batch size -> row numbers 0..n-1 on the device

    def _ready(self, batch, which):
        try:
            xs, y, weights = self.check(batch)
        except (ValueError, TypeError) as e:
            raise type(e)(f"{self.where}: {which} (step {self.step + 1}): {e}. It gave {describe(batch)}") from None
        to_device = self.backend.to_device
        n = xs[0].shape[0]
        rows = self._rows.get(n)
        if rows is None:
            rows = self._rows[n] = to_device(np.arange(n))
        return ([to_device(a) for a in xs], None if y is None else to_device(y),
                None if weights is None else to_device(weights), rows)


class GeneratorBatches(StreamBatches):
    """A generator or iterator: one for the whole fit, so a pass carries on where the last one stopped, or
    finds it ended."""

    kind = 'generator'

    def __init__(self, source, check, backend, where, steps=None):
        super().__init__(check, backend, where, steps)
        self.source = source
        self._count = 0  # batches it gave so far, for error messages
        first = next(source, _END)
        if first is _END:
            raise ValueError(f"{where}: the generator yielded no batches")
        self._first = self._next_ready(first)

    def _next_ready(self, batch):
        self._count += 1
        return self._ready(batch, f"batch {self._count} from the generator")

    def pass_batches(self):
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        for batch in self.source:
            yield self._next_ready(batch)


class DatasetBatches(StreamBatches):
    """A utils.PyDataset: a pass reads its len() batches, in a new order each pass with shuffle; one without
    an end (num_batches None) is read until steps_per_epoch says stop."""

    kind = 'PyDataset'

    def __init__(self, source, check, backend, where, steps=None, shuffle=False, rng=None):
        super().__init__(check, backend, where, steps)
        self.source, self.shuffle, self.rng = source, shuffle, rng
        length = source.num_batches
        if length is not None and (isinstance(length, bool) or not isinstance(length, (int, np.integer))
                                   or length < 0):
            raise ValueError(f"{where}: the PyDataset's len() (num_batches) must be an int >= 0 or None, "
                             f"got {length!r}")
        if length is None and steps is None:
            raise ValueError(f"{where}: the PyDataset has no end (num_batches is None): pass "
                             f"{'steps_per_epoch' if where == 'fit' else 'steps'} to say how many batches make "
                             f"an epoch")
        if length == 0:
            raise ValueError(f"{where}: the PyDataset is empty (len() is 0)")
        self.pass_length = None if length is None else int(length)
        self._ready(source[0], 'PyDataset[0]')  # checked now; read again in its turn

    def pass_batches(self):
        if self.pass_length is None:
            indices = itertools.count()
        else:
            indices = self.rng.permutation(self.pass_length) if self.shuffle else range(self.pass_length)
        for index in indices:
            yield self._ready(self.source[int(index)], f"PyDataset[{index}]")

    def on_epoch_begin(self):
        self.source.on_epoch_begin()

    def on_epoch_end(self):
        self.source.on_epoch_end()


def stream_batches(source, check, backend, where, steps=None, shuffle=False, rng=None):
    """GeneratorBatches or DatasetBatches, as the source is."""
    if isinstance(source, PyDataset):
        return DatasetBatches(source, check, backend, where, steps, shuffle, rng)
    return GeneratorBatches(source, check, backend, where, steps)
