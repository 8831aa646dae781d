"""Keras 3's optimizers in float64 numpy, written from keras/src/optimizers/*.py (base_optimizer.py for
clipping and weight decay) one variable at a time: the reference that the update kernels, their CUDA twins
and the optimizer objects are checked against."""
import numpy as np

DEFAULTS = {
    'sgd': dict(momentum=0.0, nesterov=False),
    'rmsprop': dict(rho=0.9, momentum=0.0, epsilon=1e-7, centered=False),
    'adagrad': dict(initial_accumulator_value=0.1, epsilon=1e-7),
    'adam': dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
    'adamax': dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    'nadam': dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7),
}


class KerasOptimizer:
    """kind: 'sgd', 'rmsprop', 'adagrad', 'adam' (AdamW is adam with weight_decay), 'adamax' or 'nadam'.
    learning_rate: a number or a callable step -> rate."""

    def __init__(self, kind, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, **hyper):
        self.kind, self.learning_rate, self.weight_decay = kind, learning_rate, weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.h = {**DEFAULTS[kind], **hyper}
        self.iterations = 0
        self.slots = {}
        self.u_product = 1.0

    def slot(self, i, name):
        """Slot `name` of variable i (a float64 array)."""
        return self.slots[(i, name)]

    def step(self, variables, grads):
        """One step: variables (float64 arrays) are updated in place; grads are read."""
        lr = self.learning_rate(self.iterations) if callable(self.learning_rate) else self.learning_rate
        grads = [np.asarray(g, np.float64) for g in grads]
        if self.clipnorm:
            grads = [g * self.clipnorm / max(np.sqrt(np.sum(g * g)), self.clipnorm) for g in grads]
        elif self.global_clipnorm:
            norm = np.sqrt(sum(np.sum(g * g) for g in grads))
            grads = [g * self.global_clipnorm / max(norm, self.global_clipnorm) for g in grads]
        elif self.clipvalue:
            grads = [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.weight_decay is not None:
            for v in variables:
                v -= v * self.weight_decay * lr
        if self.kind == 'nadam':
            self.u_product *= self.h['beta_1'] * (1.0 - 0.5 * 0.96 ** (self.iterations + 1))
        for i, (v, g) in enumerate(zip(variables, grads)):
            if not self.slots.get((i, 'made')):
                self.slots[(i, 'made')] = True
                for name in ('m', 'v', 'v_hat', 'u', 'velocity', 'momentum', 'average'):
                    self.slots[(i, name)] = np.zeros_like(v)
                self.slots[(i, 'accumulator')] = np.full_like(v, self.h.get('initial_accumulator_value', 0.0))
            getattr(self, self.kind)(i, v, g, lr, self.iterations + 1, **self.h)
        self.iterations += 1

    def sgd(self, i, v, g, lr, t, momentum, nesterov):
        if momentum == 0:
            v -= g * lr
            return
        m = self.slot(i, 'velocity')
        m[...] = -g * lr + m * momentum
        v += (-g * lr + m * momentum) if nesterov else m

    def rmsprop(self, i, v, g, lr, t, rho, momentum, epsilon, centered):
        vel = self.slot(i, 'velocity')
        vel[...] = rho * vel + (1 - rho) * g * g
        if centered:
            avg = self.slot(i, 'average')
            avg[...] = rho * avg + (1 - rho) * g
            denominator = vel - avg * avg + epsilon
        else:
            denominator = vel + epsilon
        increment = lr * g / np.sqrt(denominator)
        if momentum > 0:
            mom = self.slot(i, 'momentum')
            mom[...] = momentum * mom + increment
            v -= mom
        else:
            v -= increment

    def adagrad(self, i, v, g, lr, t, initial_accumulator_value, epsilon):
        acc = self.slot(i, 'accumulator')
        acc += g * g
        v -= lr * g / np.sqrt(acc + epsilon)

    def adam(self, i, v, g, lr, t, beta_1, beta_2, epsilon, amsgrad):
        m, vel = self.slot(i, 'm'), self.slot(i, 'v')
        alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        m += (g - m) * (1 - beta_1)
        vel += (g * g - vel) * (1 - beta_2)
        if amsgrad:
            v_hat = self.slot(i, 'v_hat')
            v_hat[...] = np.maximum(v_hat, vel)
            vel = v_hat
        v -= m * alpha / (np.sqrt(vel) + epsilon)

    def adamax(self, i, v, g, lr, t, beta_1, beta_2, epsilon):
        m, u = self.slot(i, 'm'), self.slot(i, 'u')
        m += (g - m) * (1 - beta_1)
        u[...] = np.maximum(beta_2 * u, np.abs(g))
        v -= lr * m / ((1 - beta_1 ** t) * (u + epsilon))

    def nadam(self, i, v, g, lr, t, beta_1, beta_2, epsilon):
        m, vel = self.slot(i, 'm'), self.slot(i, 'v')
        u_t = beta_1 * (1.0 - 0.5 * 0.96 ** t)
        u_t_1 = beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        u_product_t_1 = self.u_product * u_t_1
        m += (g - m) * (1 - beta_1)
        vel += (g * g - vel) * (1 - beta_2)
        m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * g / (1 - self.u_product)
        v_hat = vel / (1 - beta_2 ** t)
        v -= m_hat * lr / (np.sqrt(v_hat) + epsilon)
