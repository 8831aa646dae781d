"""What the optimizers' check passes share. A step is applied whole or not at all: each update kernel has a
read-only twin, <op>_check, that computes every new weight and state value with the same arithmetic and
tells whether all are finite, so that the optimizer writes nothing when any range would go non-finite."""
import numpy as np

from numbanet.kernels.cpu._jit import njit


# Without fastmath: LLVM may not fuse this product into the update's subtraction, so the decayed weight is
# rounded once, as clip.scale_values rounds it when weight decay is applied after a passed check.
@njit(cache=True, inline='always')
def decayed(p, factor):
    return p * factor


@njit(cache=True, inline='always')
def finite(x):
    # An ordered comparison is false for NaN, and no branch: an and-reduction of these vectorises.
    return abs(x) < np.inf

