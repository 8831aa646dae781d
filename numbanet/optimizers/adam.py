"""Adam and its relatives: AdamW (Adam with decoupled weight decay), Adamax (the infinity norm in place of
the second moment) and Nadam (Nesterov momentum), with Keras's bias corrections."""
from numbanet.kernels.bias_correction import adam_alpha, nadam_momentum
from numbanet.optimizers.base import Optimizer, check_epsilon, check_fraction


# The quick pass's bounds for weights and gradients (quick_bounds): far beyond any value training meets, far
# enough inside float32's range that Adam's arithmetic on them cannot overflow.
QUICK_P = 2.0 ** 100
QUICK_G = 2.0 ** 40


class _Moments(Optimizer):
    def __init__(self, learning_rate, beta_1, beta_2, epsilon, name, **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1 = check_fraction(beta_1, 'beta_1')
        self.beta_2 = check_fraction(beta_2, 'beta_2')
        self.epsilon = check_epsilon(epsilon)

    def _settings(self):
        return {'beta_1': self.beta_1, 'beta_2': self.beta_2, 'epsilon': self.epsilon}


class Adam(_Moments):
    """m and v, the moving means of g and g^2; w -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m /
    (sqrt(v) + epsilon). amsgrad: divides by the largest v so far (slot v_hat)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, name='adam',
                 **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)
        self.amsgrad = bool(amsgrad)

    def _slots(self):
        return {'m': 0.0, 'v': 0.0, **({'v_hat': 0.0} if self.amsgrad else {})}

    def _step(self, k, lr, step, params, grads, slots):
        hyper = (lr, self.beta_1, self.beta_2, self.epsilon, step)
        if 'v_hat' in slots:
            return k.adam_amsgrad_check, k.adam_amsgrad_update, (params, slots['m'], slots['v'], slots['v_hat'],
                                                                 grads, *hyper)
        return k.adam_check, k.adam_update, (params, slots['m'], slots['v'], grads, *hyper)

    def quick_bounds(self, lr, step, decay, steps):
        # While every gradient so far was within G of 0, m is within G * rho^t and v (and v_hat) within
        # G^2 * rho^t: each is a convex combination of the last value and a gradient (or its square), computed
        # in float32 with a relative error under 6 * 2^-24 per step, which rho covers. v >= 0 exactly (it is
        # never pushed below 0 by rounding), so the denominator is at least epsilon, and
        # |new weight| <= |decay| * P + alpha * |m| * max(1, 1 / epsilon), the intermediates less. Everything is
        # then finite while the bound below stays under 2^120 (float32 ends near 2^128).
        growth = (1.0 + 2.0 ** -20) ** steps
        if QUICK_G ** 2 * growth > 2.0 ** 120:  # after about 29 million steps
            return None
        alpha = adam_alpha(lr, self.beta_1, self.beta_2, step)
        if not abs(decay) * QUICK_P + alpha * QUICK_G * growth * max(1.0, 1.0 / self.epsilon) <= 2.0 ** 120:
            return None
        return QUICK_P, QUICK_G

    def _settings(self):
        return {**super()._settings(), 'amsgrad': self.amsgrad}


class AdamW(Adam):
    """Adam, after decaying the weights: w -= lr * weight_decay * w (Keras's AdamW)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name='adamw', **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW needs weight_decay, a finite number >= 0, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name, weight_decay=weight_decay, **kwargs)


class Adamax(_Moments):
    """m, the moving mean of g, and u = max(beta_2 * u, |g|); w -= lr / (1 - beta_1^t) * m / (u + epsilon)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name='adamax', **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)

    def _slots(self):
        return {'m': 0.0, 'u': 0.0}

    def _step(self, k, lr, step, params, grads, slots):
        return k.adamax_check, k.adamax_update, (params, slots['m'], slots['u'], grads, lr, self.beta_1, self.beta_2,
                                                 self.epsilon, step)


class Nadam(_Moments):
    """Adam with Nesterov momentum, Keras 3's formulation: the momentum schedule u_t = beta_1 * (1 - 0.5 *
    0.96^t) weighs m and g, with the product of u_1 .. u_t in the bias correction."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name='nadam', **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)
        self._product = (0, 1.0)  # (t, u_1 * ... * u_t)

    def _slots(self):
        return {'m': 0.0, 'v': 0.0}

    def _u_product(self, step):
        # Keras keeps the product as a variable; here it follows from the step count, so it needs no saving.
        # Carried from step to step, and recomputed after a jump (a loaded file, a new model).
        t, product = self._product
        if t > step:
            t, product = 0, 1.0
        for i in range(t + 1, step + 1):
            product *= nadam_momentum(self.beta_1, i)
        self._product = (step, product)
        return product

    def _step(self, k, lr, step, params, grads, slots):
        return k.nadam_check, k.nadam_update, (params, slots['m'], slots['v'], grads, lr, self.beta_1, self.beta_2,
                                               self.epsilon, step, self._u_product(step))
