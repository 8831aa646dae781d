"""Data sets under Keras's names: numbanet.datasets.mnist.load_data(), fashion_mnist.load_data()."""
from numbanet.datasets import fashion_mnist, mnist
from numbanet.datasets.formats import DataFormatError
from numbanet.datasets.sources import DatasetNotFoundError, cache_dir

__all__ = ['mnist', 'fashion_mnist', 'DataFormatError', 'DatasetNotFoundError', 'cache_dir']
