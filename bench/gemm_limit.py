"""The GEMM limit of an MLP training step: the matrix products a step cannot do without, timed alone in numpy's
BLAS. A step that did nothing else (no bias, activation, loss, optimizer, no Python) would reach
batch / (their time) samples/s, which is what scaling.py sets each framework against.

Per Dense layer of a inputs and b outputs, on a batch of B: the forward X @ W (B x a @ a x b), the weight
gradient X^T @ dY (a x B @ B x b) and the input gradient dY @ W^T (B x b @ b x a), except the first layer's,
which nothing needs. Each is 2*B*a*b floating-point operations, so the FLOPs per sample do not depend on B.
The products write into buffers made once, and the transposes are views, which numpy hands to BLAS as a
transpose flag, not a copy: only the GEMMs are timed.
"""
import os

import numpy as np


def gemm_shapes(sizes, batch):
    """[(what, m, k, n)] of one training step of the MLP with these layer sizes: an m x k @ k x n product each."""
    out = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        out += [(f'X @ W [{i}]', batch, a, b), (f'X^T @ dY [{i}]', a, batch, b)]
        if i:
            out.append((f'dY @ W^T [{i}]', batch, b, a))
    return out


def flops_per_sample(sizes):
    return sum(2 * m * k * n for _, m, k, n in gemm_shapes(sizes, 1))


class GemmStep:
    """Calling it runs one step's GEMMs in numpy, on random float32 operands made from seed."""

    def __init__(self, sizes, batch, seed=0):
        rng = np.random.default_rng(seed)

        def rand(*shape):
            return rng.standard_normal(shape, dtype=np.float32)
        self.products = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            x, w, dy = rand(batch, a), rand(a, b), rand(batch, b)
            self.products += [(x, w, np.empty((batch, b), np.float32)),
                              (x.T, dy, np.empty((a, b), np.float32))]
            if i:
                self.products.append((dy, w.T, np.empty((batch, a), np.float32)))

    def __call__(self):
        for a, b, out in self.products:
            np.matmul(a, b, out=out)

    def version(self):
        blas = np.show_config(mode='dicts')['Build Dependencies']['blas']
        threads = os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')
        return f"numpy {np.__version__}, {blas['name']} {blas['version']}, OPENBLAS_NUM_THREADS={threads}"
