"""Optimizer state is stored without subnormal floats: a value below float32's smallest normal number is stored
as 0, as TensorFlow's flush-to-zero does for Keras on the CPU.

Why: x86 computes with subnormals 50-100x slower than with normal numbers. A weight whose gradient stays 0
(one of MNIST's border pixels, a dead ReLU) has its Adam first moment shrink by beta_1 every step, into the
subnormals after about 750 steps, and from then on each such value stalls every step that reads it: the
reference MLP's Adam step went from 253 to 530 us by the sixth epoch (/tmp probe, 2026-11-29). Setting the
processor's flush-to-zero mode instead would change it for every library in the process."""
import numpy as np

from numbanet.kernels.cpu._jit import njit

TINY = np.float32(np.finfo(np.float32).tiny)


@njit(cache=True, inline='always')
def flush(x):
    # Written as "not below" so that NaN, which compares false, passes through for the check to refuse; the
    # comparison and select vectorise, and a comparison costs nothing extra on a subnormal.
    return x if not abs(x) < TINY else np.float32(0.0)
