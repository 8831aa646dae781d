"""Seeds and label encoding, under Keras's names."""
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
