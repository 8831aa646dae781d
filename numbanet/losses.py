"""Losses, thin objects over the loss kernels.

A loss meets the model at the plan's head (plan.py): `plan.logits` holds the values beneath the output
activation after the forward pass, and `plan.head_forward()` puts the model's outputs in `plan.output`
(one array with the logits when there is no activation). `train()` returns the batch's summed loss and
writes the gradient of the batch's *mean* loss into `plan.grad_logits` (running the head's backward itself
when it trained on the outputs). `evaluate()` returns the summed loss. The model calls head_forward()
itself when the metrics need the outputs.

Writing a loss: subclass Loss and define `forward(k, pred, targets)` (the summed loss, a float) and
`backward(k, dpred, pred, targets)` (overwrite dpred with the gradient of the mean loss); pred and targets
are (batch, outputs) float32 arrays on the model's device, `k` its kernel set. The base class runs the
head around them. A loss that folds an activation into itself overrides train() and evaluate(), as
cross-entropy does with softmax.
"""
import numpy as np

from numbanet.checks import as_array, as_float_array, as_label_array


class Loss:
    name = 'loss'
    sparse = False  # targets are class labels (N,) rather than rows (N, C)

    def __init__(self, name=None):
        if name is not None:
            self.name = name

    def target_spec(self, batch, n_out):
        """(shape, dtype) of one batch of targets."""
        return ((batch,), np.int64) if self.sparse else ((batch, n_out), np.float32)

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

    def train(self, k, plan, targets):
        plan.head_forward()
        total = self.forward(k, plan.output, targets)
        self.backward(k, plan.grad_output, plan.output, targets)
        plan.head_backward()
        return total

    def evaluate(self, k, plan, targets):
        plan.head_forward()
        return self.forward(k, plan.output, targets)

    def get_config(self):
        return {'name': self.name}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class CategoricalCrossentropy(Loss):
    """Cross-entropy against one-hot (or soft) targets. With from_logits=False the model must end in
    softmax, which this loss folds into itself: it trains on the logits beneath, in one stable kernel."""

    def __init__(self, from_logits=False, name='categorical_crossentropy'):
        self.from_logits = bool(from_logits)
        self.name = name

    def targets(self, y, n_out, what='y'):
        arr = as_array(y, what)
        if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1 and n_out > 1):
            raise ValueError(f"{self.name} expects one-hot targets shaped (N, {n_out}), got shape {arr.shape}: "
                             f"encode labels with numbanet.utils.to_categorical(y, {n_out}) or use "
                             f"loss='sparse_categorical_crossentropy'")
        return super().targets(arr, n_out, what)

    def check_model(self, graph, device):
        head = graph.head
        if not self.from_logits and (head is None or head.name != 'softmax'):
            layer = graph.output_layer
            raise ValueError(f"{self.name} with from_logits=False needs a model that ends in softmax, but the "
                             f"output layer '{layer.name}' does not; give it activation='softmax', or use "
                             f"{type(self).__name__}(from_logits=True)")

    def fused(self, k, dlogits, logits, targets):
        """Softmax and cross-entropy in one: the summed loss, and dlogits of the mean."""
        return k.softmax_crossentropy_fused(dlogits, logits, targets)

    def probabilities(self, k, probs, logits, targets):
        """The summed loss, writing softmax(logits) into probs."""
        return k.softmax_crossentropy_forward(probs, logits, targets)

    def train(self, k, plan, targets):
        if self.from_logits:  # the model's outputs are the logits
            plan.head_forward()
            total = self.fused(k, plan.grad_output, plan.output, targets)
            plan.head_backward()
            return total
        return self.fused(k, plan.grad_logits, plan.logits, targets)

    def evaluate(self, k, plan, targets):
        if self.from_logits:
            plan.head_forward()
            return self.probabilities(k, plan.scratch('probs', plan.output.shape), plan.output, targets)
        total = self.probabilities(k, plan.output, plan.logits, targets)
        plan.output_written()
        return total

    def get_config(self):
        return {'name': self.name, 'from_logits': self.from_logits}


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Cross-entropy against integer class labels."""

    sparse = True

    def __init__(self, from_logits=False, name='sparse_categorical_crossentropy'):
        super().__init__(from_logits, name)

    def targets(self, y, n_out, what='y'):
        return as_label_array(y, what, n_out)

    def fused(self, k, dlogits, logits, labels):
        return k.sparse_softmax_crossentropy_fused(dlogits, logits, labels)

    def probabilities(self, k, probs, logits, labels):
        return k.sparse_softmax_crossentropy_forward(probs, logits, labels)


class MeanSquaredError(Loss):
    def __init__(self, name='mean_squared_error'):
        self.name = name

    def forward(self, k, pred, targets):
        return k.mse_forward(pred, targets)

    def backward(self, k, dpred, pred, targets):
        k.mse_backward(dpred, pred, targets)


_BY_NAME = {
    'categorical_crossentropy': CategoricalCrossentropy,
    'sparse_categorical_crossentropy': SparseCategoricalCrossentropy,
    'mean_squared_error': MeanSquaredError,
    'mse': MeanSquaredError,
}
CLASSES = {cls.__name__: cls for cls in (CategoricalCrossentropy, SparseCategoricalCrossentropy, MeanSquaredError)}


def get(identifier):
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(f"unknown loss {identifier!r}; choose one of {sorted(_BY_NAME)} or pass a "
                     f"numbanet.losses object")
