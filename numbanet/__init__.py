"""numbanet: a small deep-learning engine with hand-written numba kernels and a Keras-shaped API."""
from numbanet import callbacks, datasets, initializers, layers, losses, metrics, optimizers, utils
from numbanet.model import Model, Sequential
from numbanet.threads import get_num_threads, set_num_threads

__version__ = '0.1.0'

__all__ = ['Model', 'Sequential', 'layers', 'losses', 'metrics', 'optimizers', 'callbacks', 'initializers',
           'utils', 'set_num_threads', 'get_num_threads']
