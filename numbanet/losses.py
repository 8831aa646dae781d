"""Losses, thin objects over the loss kernels.

A loss meets the model at the plan's head (plan.py): `plan.logits` holds the values beneath the output
activation after the forward pass, and `plan.head_forward()` puts the model's outputs in `plan.output`
(one array with the logits when there is no activation). `train()` returns the batch's summed loss and
writes the gradient of the batch's *mean* loss into `plan.grad_logits` (running the head's backward itself
when it trained on the outputs). `evaluate()` returns the summed loss. The model calls head_forward()
itself when the metrics need the outputs.

Sample weights (fit's sample_weight and class_weight) follow Keras's 'sum_over_batch_size': the batch's loss
is sum_b w_b l_b / B. Given `weights` (B,), train() and evaluate() return sum_b w_b l_b, and train() writes
that sum's gradient over B. Every loss is a sum of per-sample terms, so the gradient is the unweighted one
with each row scaled by its weight: one kernel does that for every loss (weigh_gradient, and
kernels/cpu/sample_weight.py), while the weighted sum comes from the loss kernels, which take the weights
as an optional last argument.

Writing a loss: subclass Loss and define `forward(k, pred, targets)` (the summed loss, a float) and
`backward(k, dpred, pred, targets)` (overwrite dpred with the gradient of the mean loss); pred and targets
are (batch, outputs) float32 arrays on the model's device, `k` its kernel set. The base class runs the
head around them, and weights them when fit has sample weights (by calling forward() on one row at a time,
unless the loss defines weighted_forward()). A loss that folds an activation into itself overrides train()
and evaluate(), as cross-entropy does with softmax, and weighs them itself.
"""
import inspect
import warnings

import numpy as np

from numbanet.backend import to_numpy
from numbanet.checks import as_array, as_float_array, as_label_array, is_number


class Loss:
    name = 'loss'
    sparse = False  # targets are class labels (N,) rather than rows (N, C)
    binary = False  # outputs are independent yes/no probabilities: 'accuracy' means binary accuracy

    def __init__(self, name=None):
        if name is not None:
            self.name = name

    def target_spec(self, batch, n_out):
        """(shape, dtype) of one batch of targets."""
        return ((batch,), np.int64) if self.sparse else ((batch, n_out), np.float32)

    def gather(self, k, plan, y, rows):
        """The targets y (on the device) at the batch's rows, copied into a buffer of the plan's."""
        targets = plan.scratch('targets', *self.target_spec(plan.batch, plan.output.shape[1]))
        k.gather_rows(targets, y, rows)
        return targets

    def targets(self, y, n_out, what='y'):
        arr = as_array(y, what)
        if arr.ndim == 1 and n_out == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[1] != n_out:
            raise ValueError(f"{what} must be shaped (N, {n_out}) to match the model's output for "
                             f"{self.name}, got shape {arr.shape}")
        return as_float_array(arr, what)

    def check_model(self, graph, device):
        """Called by compile with the model's graph and device: refuse a model this loss cannot train."""

    def forward(self, k, pred, targets):
        raise NotImplementedError(f"{type(self).__name__} defines no forward(k, pred, targets)")

    def backward(self, k, dpred, pred, targets):
        raise NotImplementedError(f"{type(self).__name__} defines no backward(k, dpred, pred, targets)")

    def weighted_forward(self, k, pred, targets, weights):
        """The sum over the batch of each sample's loss times its weight. This default asks forward() for one
        row at a time: right for any loss, and fast enough for one of your own; the built-in losses hand the
        weights to their kernels instead."""
        w = to_numpy(weights)
        return float(sum(float(w[b]) * self.forward(k, pred[b:b + 1], targets[b:b + 1]) for b in range(len(w))))

    def _total(self, k, pred, targets, weights):
        return self.forward(k, pred, targets) if weights is None else self.weighted_forward(k, pred, targets, weights)

    def weighs_samples(self):
        """Whether train() and evaluate() take sample weights: the built-in losses and one that defines
        forward() and backward() do; one of your own that overrides train() or evaluate() gives them a
        `weights=None` parameter (and weighs its sum and gradient) to be fit with sample weights."""
        return all('weights' in inspect.signature(f).parameters for f in (self.train, self.evaluate))

    @staticmethod
    def weigh_gradient(k, plan, weights):
        """Scale each row of plan.grad_logits by its sample's weight (nothing without weights)."""
        if weights is not None:
            k.scale_rows(plan.grad_logits, weights)

    def train(self, k, plan, targets, weights=None):
        plan.head_forward()
        total = self._total(k, plan.output, targets, weights)
        self.backward(k, plan.grad_output, plan.output, targets)
        plan.head_backward()
        self.weigh_gradient(k, plan, weights)
        return total

    def evaluate(self, k, plan, targets, weights=None):
        plan.head_forward()
        return self._total(k, plan.output, targets, weights)

    def get_config(self):
        return {'name': self.name}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class _FoldsHead(Loss):
    """A loss that folds the model's output activation (`folds`) into itself when from_logits=False: it
    trains on the logits beneath, in one kernel that is stable for logits of any size."""

    folds = None

    def __init__(self, from_logits=False, name=None):
        super().__init__(name)
        self.from_logits = bool(from_logits)

    def check_model(self, graph, device):
        head = graph.head
        if self.from_logits and head is not None and head.name in ('softmax', 'sigmoid'):
            # Trains, but badly (the loss applies its own softmax or sigmoid on top): Keras warns too.
            layer = graph.output_layer
            warnings.warn(f"{self.name} was given from_logits=True, so it expects logits, but the last layer, "
                          f"'{layer.name}' ({type(layer).__name__}), ends in {head.name} and outputs probabilities: "
                          f"drop from_logits=True, or make the last layer's activation linear", UserWarning,
                          stacklevel=4)
        if not self.from_logits and (head is None or head.name != self.folds):
            layer = graph.output_layer
            raise ValueError(f"{self.name} with from_logits=False needs a model whose last layer ends in "
                             f"{self.folds}, but the last layer, '{layer.name}' ({type(layer).__name__}), ends in "
                             f"{head.name if head else 'no activation'}: make the last layer one with "
                             f"activation='{self.folds}' (layers such as Dropout go before it), or use "
                             f"{type(self).__name__}(from_logits=True)")

    def fused(self, k, dlogits, logits, targets, weights):
        """The activation and the loss in one: the (weighted) summed loss, and dlogits of the unweighted mean."""
        raise NotImplementedError

    def probabilities(self, k, probs, logits, targets, weights):
        """The (weighted) summed loss, writing activation(logits) into probs."""
        raise NotImplementedError

    def train(self, k, plan, targets, weights=None):
        if self.from_logits:  # the model's outputs are the logits
            plan.head_forward()
            total = self.fused(k, plan.grad_output, plan.output, targets, weights)
            plan.head_backward()
        else:
            total = self.fused(k, plan.grad_logits, plan.logits, targets, weights)
        self.weigh_gradient(k, plan, weights)
        return total

    def evaluate(self, k, plan, targets, weights=None):
        if self.from_logits:
            plan.head_forward()
            return self.probabilities(k, plan.scratch('probs', plan.output.shape), plan.output, targets, weights)
        total = self.probabilities(k, plan.output, plan.logits, targets, weights)
        plan.output_written()
        return total

    def get_config(self):
        return {'name': self.name, 'from_logits': self.from_logits}


class CategoricalCrossentropy(_FoldsHead):
    """Cross-entropy against one-hot (or soft) targets; folds a softmax output into itself."""

    folds = 'softmax'

    def __init__(self, from_logits=False, name='categorical_crossentropy'):
        super().__init__(from_logits, name)

    def targets(self, y, n_out, what='y'):
        arr = as_array(y, what)
        if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1 and n_out > 1):
            raise ValueError(f"{self.name} expects one-hot targets shaped (N, {n_out}), got shape {arr.shape}: "
                             f"encode labels with numbanet.utils.to_categorical(y, {n_out}) or use "
                             f"loss='sparse_categorical_crossentropy'")
        return super().targets(arr, n_out, what)

    def fused(self, k, dlogits, logits, targets, weights):
        return k.softmax_crossentropy_fused(dlogits, logits, targets, weights)

    def probabilities(self, k, probs, logits, targets, weights):
        return k.softmax_crossentropy_forward(probs, logits, targets, weights)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Cross-entropy against integer class labels."""

    sparse = True

    def __init__(self, from_logits=False, name='sparse_categorical_crossentropy'):
        super().__init__(from_logits, name)

    def targets(self, y, n_out, what='y'):
        return as_label_array(y, what, n_out)

    def fused(self, k, dlogits, logits, labels, weights):
        return k.sparse_softmax_crossentropy_fused(dlogits, logits, labels, weights)

    def probabilities(self, k, probs, logits, labels, weights):
        return k.sparse_softmax_crossentropy_forward(probs, logits, labels, weights)


class BinaryCrossentropy(_FoldsHead):
    """Cross-entropy of independent yes/no outputs against targets in [0, 1], the mean over the outputs;
    folds a sigmoid output into itself."""

    folds = 'sigmoid'
    binary = True  # 'accuracy' means binary accuracy with it, whatever the number of outputs

    def __init__(self, from_logits=False, name='binary_crossentropy'):
        super().__init__(from_logits, name)

    def targets(self, y, n_out, what='y'):
        arr = super().targets(y, n_out, what)
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(f"{self.name} takes targets in [0, 1], but {what} holds values from {arr.min()} "
                             f"to {arr.max()}")
        return arr

    def fused(self, k, dlogits, logits, targets, weights):
        return k.binary_crossentropy_fused(dlogits, logits, targets, weights)

    def probabilities(self, k, probs, logits, targets, weights):
        return k.binary_crossentropy_forward(probs, logits, targets, weights)


class _Pointwise(Loss):
    """A loss with kernels <kernel>_forward(pred, targets, *args, weights=None) and <kernel>_backward(dpred,
    pred, targets, *args): it sees the model's outputs (the plan runs the output activation around it)."""

    kernel = None

    def __init__(self, name=None):
        super().__init__(name)
        self.args = ()

    def forward(self, k, pred, targets):
        return getattr(k, f'{self.kernel}_forward')(pred, targets, *self.args)

    def weighted_forward(self, k, pred, targets, weights):
        return getattr(k, f'{self.kernel}_forward')(pred, targets, *self.args, weights)

    def backward(self, k, dpred, pred, targets):
        getattr(k, f'{self.kernel}_backward')(dpred, pred, targets, *self.args)


class MeanSquaredError(_Pointwise):
    kernel = 'mse'

    def __init__(self, name='mean_squared_error'):
        super().__init__(name)


class MeanAbsoluteError(_Pointwise):
    kernel = 'mae'

    def __init__(self, name='mean_absolute_error'):
        super().__init__(name)


class Huber(_Pointwise):
    """0.5 e^2 where |e| <= delta, delta (|e| - delta / 2) beyond; the mean over the outputs."""

    kernel = 'huber'

    def __init__(self, delta=1.0, name='huber_loss'):
        super().__init__(name)
        if not is_number(delta) or not 0 < delta < float('inf'):
            raise ValueError(f"delta must be a positive number, got {delta!r}")
        self.delta = float(delta)
        self.args = (self.delta,)

    def get_config(self):
        return {'name': self.name, 'delta': self.delta}


class KLDivergence(_Pointwise):
    """sum over the outputs of y log(y / p), both clipped to [1e-7, 1] (Keras's kl_divergence)."""

    kernel = 'kl_divergence'

    def __init__(self, name='kl_divergence'):
        super().__init__(name)


class CategoricalHinge(_Pointwise):
    kernel = 'categorical_hinge'

    def __init__(self, name='categorical_hinge'):
        super().__init__(name)


class LogCosh(_Pointwise):
    kernel = 'log_cosh'

    def __init__(self, name='log_cosh'):
        super().__init__(name)


_BY_NAME = {
    'categorical_crossentropy': CategoricalCrossentropy,
    'sparse_categorical_crossentropy': SparseCategoricalCrossentropy,
    'binary_crossentropy': BinaryCrossentropy,
    'mean_squared_error': MeanSquaredError, 'mse': MeanSquaredError,
    'mean_absolute_error': MeanAbsoluteError, 'mae': MeanAbsoluteError,
    'huber': Huber, 'huber_loss': Huber,
    'kl_divergence': KLDivergence, 'kld': KLDivergence,
    'categorical_hinge': CategoricalHinge,
    'log_cosh': LogCosh,
}
CLASSES = {cls.__name__: cls for cls in (CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy,
                                         MeanSquaredError, MeanAbsoluteError, Huber, KLDivergence, CategoricalHinge,
                                         LogCosh)}


def get(identifier):
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(f"unknown loss {identifier!r}; choose one of {sorted(_BY_NAME)} or pass a "
                     f"numbanet.losses object")
