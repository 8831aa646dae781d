"""Per-sample weights on a loss's gradient, on the GPU. Twin of kernels/cpu/sample_weight.py (why one kernel
weights every loss is there); the loss kernels weight their sums through _grid.device_sum."""
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _scale_rows(grad, weights):
    i = cuda.grid(1)
    C = grad.shape[1]
    if i < grad.shape[0] * C:
        grad[i // C, i % C] *= weights[i // C]


def scale_rows(grad, weights):
    # grad: (B, C), scaled in place; weights: (B,), row b multiplied by weights[b].
    if weights.shape[0] != grad.shape[0]:
        raise ValueError("scale_rows: weights must hold one weight per row of grad")
    _scale_rows[blocks(grad.shape[0] * grad.shape[1]), THREADS](grad, weights)
