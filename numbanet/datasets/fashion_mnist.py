"""Fashion-MNIST (Zalando's clothing images), as Keras's load_data returns them."""
import os

from numbanet.datasets import sources

# SHA-256 of each file's decompressed contents (see sources.fetch).
_SHA256 = {
    'train-images-idx3-ubyte.gz': 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
    'train-labels-idx1-ubyte.gz': 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
    't10k-images-idx3-ubyte.gz': '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
    't10k-labels-idx1-ubyte.gz': '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
}
_MIRRORS = ['https://storage.googleapis.com/tensorflow/tf-keras-datasets/',
            'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/']
HINT = ("Get it with `apt-get install dataset-fashion-mnist` (Debian installs it under "
        f"{sources.DEBIAN_FASHION}), or point to a folder with the IDX files via path=, --data-dir or NUMBANET_DATA.")


def _installed():
    folder = os.environ.get('NUMBANET_FASHION_MNIST_SYSTEM_DIR', sources.DEBIAN_FASHION)
    return folder if os.path.isdir(folder) and sources.idx_files(folder) else None


def _download(folder):
    for name, digest in _SHA256.items():
        sources.fetch(name, _MIRRORS, digest, folder)
    return sources.read_idx_folder(folder)


def load_data(path=None):
    """((x_train, y_train), (x_test, y_test)): uint8 images (60000, 28, 28) and (10000, 28, 28), uint8
    labels 0-9 (T-shirt, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot)."""
    s = sources.load('fashion-mnist', path, _installed, _download, HINT)
    return (s['x_train'], s['y_train']), (s['x_test'], s['y_test'])
