"""SGD, RMSprop and Adagrad: Keras's optimizers without bias-corrected moments."""
from numbanet.optimizers.base import Optimizer, check_epsilon, check_fraction, check_rate


class SGD(Optimizer):
    """velocity = momentum * velocity - lr * g; w += velocity (Nesterov: w += momentum * velocity - lr * g)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name='SGD', **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.momentum = check_fraction(momentum, 'momentum', closed=True)
        self.nesterov = bool(nesterov)

    def _slots(self):
        return {'velocity': 0.0}

    def _step(self, k, lr, step, params, grads, slots):
        return k.sgd_check, k.sgd_update, (params, slots['velocity'], grads, lr, self.momentum, self.nesterov)

    def _settings(self):
        return {'momentum': self.momentum, 'nesterov': self.nesterov}


class RMSprop(Optimizer):
    """velocity = rho * velocity + (1 - rho) * g^2; w -= lr * g / sqrt(velocity + epsilon). centered:
    divides by the variance estimate sqrt(velocity - average^2 + epsilon), where average is the moving mean of
    g. momentum > 0: the step goes through momentum = momentum * momentum + step."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, name='rmsprop',
                 **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.rho = check_fraction(rho, 'rho')
        self.momentum = check_fraction(momentum, 'momentum')
        self.epsilon = check_epsilon(epsilon)
        self.centered = bool(centered)

    def _slots(self):
        return {'velocity': 0.0, **({'momentum': 0.0} if self.momentum > 0 else {}),
                **({'average_gradient': 0.0} if self.centered else {})}

    def _step(self, k, lr, step, params, grads, slots):
        return k.rmsprop_check, k.rmsprop_update, (params, slots['velocity'], slots.get('momentum'),
                                                   slots.get('average_gradient'), grads, lr, self.rho, self.momentum,
                                                   self.epsilon)

    def _settings(self):
        return {'rho': self.rho, 'momentum': self.momentum, 'epsilon': self.epsilon, 'centered': self.centered}


class Adagrad(Optimizer):
    """accumulator += g^2 (starting from initial_accumulator_value); w -= lr * g / sqrt(accumulator + epsilon)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name='adagrad', **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.initial_accumulator_value = check_rate(initial_accumulator_value, 'initial_accumulator_value')
        self.epsilon = check_epsilon(epsilon)

    def _slots(self):
        return {'accumulator': self.initial_accumulator_value}

    def _step(self, k, lr, step, params, grads, slots):
        return k.adagrad_check, k.adagrad_update, (params, slots['accumulator'], grads, lr, self.epsilon)

    def _settings(self):
        return {'initial_accumulator_value': self.initial_accumulator_value, 'epsilon': self.epsilon}
