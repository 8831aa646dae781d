"""Seeds, label encoding and PyDataset, under Keras's names."""
import random

import numpy as np

_rng = np.random.default_rng()


def set_random_seed(seed):
    """Seed numbanet's global generator (and Python's and numpy's legacy ones, as Keras does).
    Models created afterwards initialise and shuffle from it, so a run repeats bit for bit."""
    global _rng
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    _rng = np.random.default_rng(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def global_rng():
    return _rng


_MASK64 = (1 << 64) - 1


def mix_seed(*values):
    """One 64-bit seed from several non-negative ints (splitmix64 steps): a different stream of random
    numbers for every (model, step, layer) without any generator state to keep."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & _MASK64)) * 0xBF58476D1CE4E5B9 & _MASK64
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & _MASK64
        h ^= h >> 31
    return h


def to_categorical(y, num_classes=None):
    """Integer class labels, shape (N,) or (N, 1), to one-hot float32 rows of shape (N, num_classes)."""
    y = np.asarray(y)
    if y.dtype.kind not in 'iuf' or y.dtype == np.float16:
        raise TypeError(f"to_categorical needs integer class labels, got dtype {y.dtype}")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.dtype.kind == 'f':
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("to_categorical needs whole-number class labels; got non-integer or NaN values")
    labels = y.astype(np.int64).ravel()
    if labels.size and labels.min() < 0:
        raise ValueError(f"class labels must be >= 0, got {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"class label {labels.max()} is out of range for num_classes={num_classes}")
    out = np.zeros((labels.size, num_classes), np.float32)
    out[np.arange(labels.size), labels] = 1.0
    return out.reshape(y.shape + (num_classes,))


class PyDataset:
    """Keras's PyDataset: data that makes its batches in Python, one at a time. Subclass it, call
    super().__init__(**kwargs), and define __len__ (the number of batches) and __getitem__(index) (batch
    `index`: (x, y) or (x, y, sample_weight) for fit and evaluate, x or (x,) for predict). fit calls
    on_epoch_begin() and on_epoch_end() around every epoch (reshuffle your samples there), and with
    shuffle=True visits the batches in a new order each pass. A dataset without an end defines
    num_batches to return None and is fit with steps_per_epoch.

    workers, use_multiprocessing and max_queue_size are accepted so a Keras PyDataset ports unchanged, but
    numbanet reads the batches in fit's own thread, one after another: a batch is made while the model
    waits. (The kernels use every core already; threads making batches would take them away.)"""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} defines no __getitem__(index): return batch `index`")

    @property
    def num_batches(self):
        """The number of batches, or None for a dataset without an end; len(self) by default."""
        if hasattr(self, '__len__'):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} defines neither __len__ nor num_batches")

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass
