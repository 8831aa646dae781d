"""BatchNormalization and LayerNormalization, on the last axis (channels-last, as Keras defaults)."""
import numpy as np

from numbanet import initializers
from numbanet.backend import rows
from numbanet.checks import is_number
from numbanet.layers.base import Layer


def _last_axis(layer, axis, input_shape):
    rank = len(input_shape) + 1
    if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank or axis % rank != rank - 1:
        raise ValueError(f"layer '{layer.name}' normalizes over the last axis of its (batch, ...) input: axis=-1 "
                         f"(or {rank - 1} for input of rank {rank}), got axis={axis!r}")


def _epsilon(value):
    if not is_number(value) or not 0 < value < 1:
        raise ValueError(f"epsilon must be a small positive number, got {value!r}")
    return float(value)


class _Normalization(Layer):
    def __init__(self, axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"axis must be an int, got {axis!r}")
        self.axis, self.epsilon = axis, _epsilon(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.gamma = self.beta = None

    def build(self, input_shape):
        _last_axis(self, self.axis, input_shape)
        channels = input_shape[-1]
        if self.scale:
            self.gamma = self.add_weight('gamma', (channels,), self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight('beta', (channels,), self.beta_initializer)

    def _affine(self, ctx):
        """(gamma, beta) arrays, ones and zeros of the device standing in for the ones scale/center left out."""
        channels = self.built_input_shape[-1]
        gamma = self.gamma.value if self.scale else ctx.constant('ones', (channels,), 1.0)
        beta = self.beta.value if self.center else ctx.constant('zeros', (channels,), 0.0)
        return gamma, beta

    def _affine_grads(self, ctx):
        # A left-out gamma or beta gets its gradient written into scratch, where nothing reads it.
        channels = self.built_input_shape[-1]
        dgamma = self.gamma.grad if self.scale else ctx.constant('unused_dgamma', (channels,), 0.0)
        dbeta = self.beta.grad if self.center else ctx.constant('unused_dbeta', (channels,), 0.0)
        return dgamma, dbeta

    def extra_repr(self):
        return f"axis={self.axis}, epsilon={self.epsilon}"

    def get_config(self):
        return {**super().get_config(), 'axis': self.axis, 'epsilon': self.epsilon, 'center': self.center,
                'scale': self.scale, 'beta_initializer': initializers.name_of(self.beta_initializer),
                'gamma_initializer': initializers.name_of(self.gamma_initializer)}


class BatchNormalization(_Normalization):
    """Keras's BatchNormalization over the last axis. In training it normalizes with the batch's mean and
    (biased) variance and moves moving_mean and moving_variance (non-trainable state, saved with the
    model) toward them by 1 - momentum; in inference it uses the moving statistics. As in Keras, a frozen
    layer (trainable=False) runs in inference mode, also inside fit."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer='zeros',
                 gamma_initializer='ones', moving_mean_initializer='zeros', moving_variance_initializer='ones',
                 **kwargs):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        if not is_number(momentum) or not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        super().build(input_shape)
        channels = input_shape[-1]
        self.moving_mean = self.add_weight('moving_mean', (channels,), self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight('moving_variance', (channels,), self.moving_variance_initializer,
                                               trainable=False)

    def workspace(self, batch, training):
        # The kernels' float64 scratch; in training the batch's statistics, and room for an input gradient
        # the model does not need (a first layer).
        channels = self.built_input_shape[-1]
        ws = {'work': ((4, channels), np.float64)}
        if training:
            ws.update(mean=(channels,), var=(channels,), dx=(batch,) + self.built_input_shape)
        return ws

    def forward(self, x, out, ctx):
        gamma, beta = self._affine(ctx)
        if ctx.training and self.trainable:
            ws = ctx.ws
            ctx.k.batchnorm_forward_train(rows(out), ws['mean'], ws['var'], rows(x), gamma, beta, self.epsilon,
                                          ws['work'])
        else:
            ctx.k.batchnorm_forward_infer(rows(out), rows(x), self.moving_mean.value, self.moving_variance.value,
                                          gamma, beta, self.epsilon, ctx.ws['work'])

    def after_step(self, ctx):
        # The moving statistics move only once the step's loss is known to be finite.
        if self.trainable:
            ctx.k.batchnorm_update_moving(self.moving_mean.value, self.moving_variance.value, ctx.ws['mean'],
                                          ctx.ws['var'], self.momentum)

    def backward(self, x, out, dout, dx, ctx):
        if not self.trainable:  # inference mode: the statistics are constants
            if dx is not None:
                gamma, _ = self._affine(ctx)
                ctx.k.batchnorm_backward_infer(rows(dx), rows(dout), self.moving_variance.value, gamma, self.epsilon,
                                               ctx.ws['work'])
            return
        gamma, _ = self._affine(ctx)
        dgamma, dbeta = self._affine_grads(ctx)
        ws = ctx.ws
        ctx.k.batchnorm_backward(rows(ws['dx'] if dx is None else dx), dgamma, dbeta, rows(dout), rows(x),
                                 ws['mean'], ws['var'], gamma, self.epsilon, ws['work'])

    def extra_repr(self):
        return f"{super().extra_repr()}, momentum={self.momentum}"

    def get_config(self):
        return {**super().get_config(), 'momentum': self.momentum,
                'moving_mean_initializer': initializers.name_of(self.moving_mean_initializer),
                'moving_variance_initializer': initializers.name_of(self.moving_variance_initializer)}


class LayerNormalization(_Normalization):
    """Keras's LayerNormalization over the last axis: each sample's features to mean 0 and variance 1,
    then scaled by gamma and shifted by beta."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer='zeros',
                 gamma_initializer='ones', **kwargs):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)

    def workspace(self, batch, training):
        count = batch
        for d in self.built_input_shape[:-1]:
            count *= d
        ws = {'mean': (count,), 'invstd': (count,)}
        if training:
            ws.update(dx=(batch,) + self.built_input_shape, work=((4, self.built_input_shape[-1]), np.float64))
        return ws

    def forward(self, x, out, ctx):
        gamma, beta = self._affine(ctx)
        ctx.k.layernorm_forward(rows(out), ctx.ws['mean'], ctx.ws['invstd'], rows(x), gamma, beta, self.epsilon)

    def backward(self, x, out, dout, dx, ctx):
        gamma, _ = self._affine(ctx)
        dgamma, dbeta = self._affine_grads(ctx)
        ctx.k.layernorm_backward(rows(ctx.ws['dx'] if dx is None else dx), dgamma, dbeta, rows(dout), rows(x),
                                 ctx.ws['mean'], ctx.ws['invstd'], gamma, ctx.ws['work'])
