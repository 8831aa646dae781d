"""numbanet: a small deep-learning engine with hand-written numba kernels and a Keras-shaped API."""
import os

# Thread behaviour, settled before numba loads (each can still be overridden from the environment):
# OpenMP is numba's best threading layer here, and a worker that finds no work spins only ~1000 rounds
# before sleeping. libgomp's default spin keeps an idle worker busy for milliseconds; when another
# process wants the core, the spinning threads slow a training epoch 4-6x instead of under 2x, while
# on an idle machine the short spin costs a few percent (numbers in README, Performance).
os.environ.setdefault('NUMBA_THREADING_LAYER_PRIORITY', 'omp tbb workqueue')
os.environ.setdefault('GOMP_SPINCOUNT', '1000')
from numbanet import (activations, augmentation, callbacks, compression, datasets, distributed, initializers,
                      layers, losses, metrics, models, optimizers, utils)
from numbanet.backend import cuda_available
from numbanet.model import Model
from numbanet.sequential import Sequential
from numbanet.threads import get_num_threads, set_num_threads

__version__ = '0.1.0'

__all__ = ['Model', 'Sequential', 'activations', 'augmentation', 'callbacks', 'compression', 'cuda_available', 'datasets',
           'distributed', 'get_num_threads', 'initializers', 'layers', 'losses', 'metrics', 'models', 'optimizers',
           'set_num_threads', 'utils']
