"""Per-sample weights on a loss's gradient.

Every loss is a sum of per-sample terms, so with weights w the gradient of sum_b w_b l_b / B has, for row b,
w_b times the row of the unweighted mean's gradient. One kernel after the loss's own backward therefore
weights any loss, built-in or a user's, and no backward kernel needs to know about weights. The loss kernels
weight the summed loss they return themselves (their optional `weights` argument): that sum needs each
row's loss, which only they see.
"""
from numbanet.kernels.cpu._jit import njit


@njit(cache=True)
def scale_rows(grad, weights):
    # grad: (B, C), scaled in place; weights: (B,), row b multiplied by weights[b].
    B, C = grad.shape
    if weights.shape[0] != B:
        raise ValueError("scale_rows: weights must hold one weight per row of grad")
    for b in range(B):
        w = weights[b]
        for c in range(C):
            grad[b, c] *= w
