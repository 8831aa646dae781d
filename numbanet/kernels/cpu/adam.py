"""Adam update over the flat parameter buffer, with Keras's formulation of the bias correction."""
import math

from numba import njit


# error_model='numpy': a Python-style zero-division check in the loop would block vectorisation.
@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def adam_update(params, m, v, grads, lr, beta_1, beta_2, epsilon, step):
    # params, m, v, grads: (P,); step counts from 1. As Keras does, the bias corrections fold into
    # one step size, alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), and epsilon is added to sqrt(v).
    f = params.dtype.type
    alpha = f(lr * math.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step))
    b1 = f(beta_1)
    b2 = f(beta_2)
    eps = f(epsilon)
    one = f(1.0)
    for i in range(params.shape[0]):
        g = grads[i]
        mi = b1 * m[i] + (one - b1) * g
        vi = b2 * v[i] + (one - b2) * g * g
        m[i] = mi
        v[i] = vi
        params[i] -= alpha * mi / (math.sqrt(vi) + eps)
