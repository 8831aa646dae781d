"""Losses, thin objects over the loss kernels. Each validates its targets, then computes on a batch:
train() returns the summed loss and writes the gradient of the mean loss into `dout`."""
import numpy as np

from numbanet.checks import as_array, as_float_array, as_label_array


class Loss:
    name = 'loss'
    sparse = False       # targets are class labels (N,) rather than rows (N, C)
    takes_logits = False  # the kernels read pre-softmax outputs

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

    def get_config(self):
        return {'name': self.name}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class CategoricalCrossentropy(Loss):
    """Cross-entropy against one-hot (or soft) targets. With from_logits=False the model's output must
    be a softmax; numbanet then trains on the logits beneath it, fusing softmax into the loss."""

    takes_logits = True

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

    def train(self, k, dout, logits, targets):
        return k.softmax_crossentropy_fused(dout, logits, targets)

    def evaluate(self, k, probs, logits, targets):
        return k.softmax_crossentropy_forward(probs, logits, targets)

    def get_config(self):
        return {'name': self.name, 'from_logits': self.from_logits}


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Cross-entropy against integer class labels."""

    sparse = True

    def __init__(self, from_logits=False, name='sparse_categorical_crossentropy'):
        super().__init__(from_logits, name)

    def targets(self, y, n_out, what='y'):
        return as_label_array(y, what, n_out)

    def train(self, k, dout, logits, labels):
        return k.sparse_softmax_crossentropy_fused(dout, logits, labels)

    def evaluate(self, k, probs, logits, labels):
        return k.sparse_softmax_crossentropy_forward(probs, logits, labels)


class MeanSquaredError(Loss):
    def __init__(self, name='mean_squared_error'):
        self.name = name

    def train(self, k, dout, pred, targets):
        total = k.mse_forward(pred, targets)
        k.mse_backward(dout, pred, targets)
        return total

    def evaluate(self, k, probs, pred, targets):
        return k.mse_forward(pred, targets)


_BY_NAME = {
    'categorical_crossentropy': CategoricalCrossentropy,
    'sparse_categorical_crossentropy': SparseCategoricalCrossentropy,
    'mean_squared_error': MeanSquaredError,
    'mse': MeanSquaredError,
}


def get(identifier):
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(f"unknown loss {identifier!r}; choose one of {sorted(_BY_NAME)} or pass a "
                     f"numbanet.losses object")
