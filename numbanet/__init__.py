"""numbanet: a small deep-learning engine with hand-written numba kernels and a Keras-shaped API."""
from numbanet import (activations, augmentation, callbacks, compression, datasets, distributed, initializers,
                      layers, losses, metrics, models, optimizers, utils)
from numbanet.backend import cuda_available
from numbanet.layers import Input
from numbanet.model import Model
from numbanet.precompile import warmup
from numbanet.sequential import Sequential
from numbanet.threads import get_num_threads, set_num_threads

__version__ = '0.1.0'

__all__ = ['Input', 'Model', 'Sequential', 'activations', 'augmentation', 'callbacks', 'compression', 'cuda_available', 'datasets',
           'distributed', 'get_num_threads', 'initializers', 'layers', 'losses', 'metrics', 'models', 'optimizers',
           'set_num_threads', 'utils', 'warmup']
