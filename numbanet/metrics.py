"""Metrics accumulated over an epoch from per-batch counts computed by kernels. Each reads the model's
outputs (after the output activation) and the batch's targets, and keeps its running counts in `state`, a
float64 array that data-parallel training sums across processes."""
import numpy as np

from numbanet.backend import get_backend, is_device_array, to_numpy, write
from numbanet.checks import is_number


class Metric:
    sparse = False    # reads integer labels rather than target rows
    size = 2          # length of the state: by default a running total and a count
    weighted = False  # one of compile's weighted_metrics: update() takes the batch's sample weights too

    def __init__(self, name):
        self.name = name
        self.state = np.zeros(self.size, np.float64)

    def reset(self):
        self.state[:] = 0.0

    def result(self):
        total, count = self.state
        return float(total / count) if count else 0.0

    def get_config(self):
        return {'name': self.name}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class CategoricalAccuracy(Metric):
    def __init__(self, name='categorical_accuracy'):
        super().__init__(name)

    def update(self, k, pred, targets):
        self.state += (k.categorical_accuracy_count(pred, targets), pred.shape[0])


class SparseCategoricalAccuracy(Metric):
    sparse = True

    def __init__(self, name='sparse_categorical_accuracy'):
        super().__init__(name)

    def update(self, k, pred, labels):
        self.state += (k.sparse_categorical_accuracy_count(pred, labels), pred.shape[0])


class BinaryAccuracy(Metric):
    def __init__(self, name='binary_accuracy', threshold=0.5):
        super().__init__(name)
        self.threshold = _threshold(threshold)

    def update(self, k, pred, targets):
        self.state += (k.binary_accuracy_count(pred, targets, self.threshold), pred.size)

    def get_config(self):
        return {'name': self.name, 'threshold': self.threshold}


class TopKCategoricalAccuracy(Metric):
    """The share of samples whose true class is among the k highest-scoring ones."""

    def __init__(self, k=5, name='top_k_categorical_accuracy'):
        super().__init__(name)
        self.k = _positive(k, 'k')

    def update(self, k, pred, targets):
        self.state += (k.top_k_categorical_count(pred, targets, self.k), pred.shape[0])

    def get_config(self):
        return {'name': self.name, 'k': self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    sparse = True

    def __init__(self, k=5, name='sparse_top_k_categorical_accuracy'):
        super().__init__(k, name)

    def update(self, k, pred, labels):
        self.state += (k.sparse_top_k_categorical_count(pred, labels, self.k), pred.shape[0])


class MeanSquaredError(Metric):
    def __init__(self, name='mean_squared_error'):
        super().__init__(name)

    def update(self, k, pred, targets):
        self.state += (k.error_sums(pred, targets)[1], pred.size)


class MeanAbsoluteError(Metric):
    def __init__(self, name='mean_absolute_error'):
        super().__init__(name)

    def update(self, k, pred, targets):
        self.state += (k.error_sums(pred, targets)[0], pred.size)


class _Confusion(Metric):
    """Counts of true and false positives and negatives at each threshold, over every output element
    (a prediction above the threshold is a positive; a target of 0.5 or more is one). With from_logits=True
    the outputs are logits: the thresholds move to logit(threshold) instead, which counts the same as
    thresholding sigmoid(output)."""

    def __init__(self, name, thresholds, from_logits=False):
        self.from_logits = bool(from_logits)
        t = np.asarray(thresholds, np.float64)
        if self.from_logits:
            with np.errstate(divide='ignore'):
                t = np.log(np.clip(t, 0, 1)) - np.log1p(-np.clip(t, 0, 1))  # -inf at 0 and below, +inf at 1
        self.thresholds = t.astype(np.float32)
        self.size = 4 * len(self.thresholds)
        super().__init__(name)
        self._zeros = np.zeros((len(self.thresholds), 4), np.float64)
        self._buffers = {}  # per device: the thresholds and a batch's counts there, made once

    def update(self, k, pred, targets):
        device = 'cuda' if is_device_array(pred) else 'cpu'
        if device not in self._buffers:
            backend = get_backend(device)
            self._buffers[device] = (backend.to_device(self.thresholds), backend.to_device(self._zeros.copy()))
        thresholds, counts = self._buffers[device]
        write(counts, self._zeros)
        k.confusion_counts(counts, pred, targets, thresholds)
        self.state += to_numpy(counts).reshape(-1)

    def counts(self):
        """(tp, fp, tn, fn), one value per threshold."""
        return self.state.reshape(-1, 4).T


class _OneThreshold(_Confusion):
    def __init__(self, thresholds, name, from_logits):
        super().__init__(name, [_threshold(thresholds)], from_logits)
        self.threshold = float(thresholds)

    def get_config(self):
        return {'name': self.name, 'thresholds': self.threshold, 'from_logits': self.from_logits}


class Precision(_OneThreshold):
    def __init__(self, thresholds=0.5, name='precision', from_logits=False):
        super().__init__(thresholds, name, from_logits)

    def result(self):
        tp, fp, _, _ = self.counts()
        return float(tp[0] / (tp[0] + fp[0])) if tp[0] + fp[0] else 0.0


class Recall(_OneThreshold):
    def __init__(self, thresholds=0.5, name='recall', from_logits=False):
        super().__init__(thresholds, name, from_logits)

    def result(self):
        tp, _, _, fn = self.counts()
        return float(tp[0] / (tp[0] + fn[0])) if tp[0] + fn[0] else 0.0


class AUC(_Confusion):
    """The area under the ROC curve, from counts at num_thresholds evenly spaced thresholds and the
    trapezoidal rule (Keras's defaults: curve='ROC', summation_method='interpolation')."""

    def __init__(self, num_thresholds=200, name='auc', from_logits=False):
        n = _positive(num_thresholds, 'num_thresholds')
        if not 2 <= n <= 100_000:
            raise ValueError(f"num_thresholds must be between 2 and 100000, got {num_thresholds!r}")
        eps = 1e-7
        super().__init__(name, [-eps] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1.0 + eps], from_logits)
        self.num_thresholds = n

    def result(self):
        tp, fp, tn, fn = self.counts()
        with np.errstate(invalid='ignore', divide='ignore'):
            tpr = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
            fpr = np.where(fp + tn > 0, fp / (fp + tn), 0.0)
        return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))

    def get_config(self):
        return {'name': self.name, 'num_thresholds': self.num_thresholds, 'from_logits': self.from_logits}


class Weighted(Metric):
    """A metric of compile's weighted_metrics: each sample counts as much as its weight (fit's sample_weight or
    class_weight; all count 1 without them), so the result is the weighted one, as in Keras. It asks the metric
    for one sample at a time, which suits any metric, built-in or yours, at some cost in speed."""

    weighted = True

    def __init__(self, metric, name):
        self.metric, self.name, self.state = metric, name, metric.state

    def update(self, k, pred, targets, weights=None):
        if weights is None:
            return self.metric.update(k, pred, targets)
        w, total = to_numpy(weights), self.state.copy()
        for b in range(w.shape[0]):
            self.state[:] = 0.0
            self.metric.update(k, pred[b:b + 1], targets[b:b + 1])
            total += float(w[b]) * self.state
        self.state[:] = total

    def result(self):
        return self.metric.result()


def weighted(metrics, plain):
    """metrics as weighted metrics, named 'weighted_<name>' where a plain one has their name (Keras's rule)."""
    names = {m.name for m in plain}
    return [Weighted(m, f'weighted_{m.name}' if m.name in names else m.name) for m in metrics]


def _threshold(value):
    if not is_number(value) or not 0 <= value <= 1:
        raise ValueError(f"threshold must be a number in [0, 1], got {value!r}")
    return float(value)


def _positive(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


CLASSES = {cls.__name__: cls for cls in (CategoricalAccuracy, SparseCategoricalAccuracy, BinaryAccuracy,
                                         TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError,
                                         MeanAbsoluteError, Precision, Recall, AUC)}
_BY_NAME = {
    'categorical_accuracy': CategoricalAccuracy,
    'sparse_categorical_accuracy': SparseCategoricalAccuracy,
    'binary_accuracy': BinaryAccuracy,
    'top_k_categorical_accuracy': TopKCategoricalAccuracy,
    'sparse_top_k_categorical_accuracy': SparseTopKCategoricalAccuracy,
    'mean_squared_error': MeanSquaredError, 'mse': MeanSquaredError,
    'mean_absolute_error': MeanAbsoluteError, 'mae': MeanAbsoluteError,
    'precision': Precision, 'recall': Recall, 'auc': AUC,
}


def get(identifier, loss, n_out):
    """A metric object from a name or object; 'accuracy' picks the kind that fits the loss, as in Keras."""
    if isinstance(identifier, Metric):
        metric = identifier
    elif identifier in ('accuracy', 'acc'):
        if loss.sparse:
            metric = SparseCategoricalAccuracy(name=identifier)
        elif loss.binary or n_out == 1:
            metric = BinaryAccuracy(name=identifier)
        else:
            metric = CategoricalAccuracy(name=identifier)
    elif isinstance(identifier, str) and identifier in _BY_NAME:
        metric = _BY_NAME[identifier](name=identifier)
    else:
        raise ValueError(f"unknown metric {identifier!r}; choose one of "
                         f"{sorted(_BY_NAME) + ['accuracy']} or pass a numbanet.metrics object")
    if metric.sparse != loss.sparse:
        want = 'integer labels' if metric.sparse else 'target rows'
        raise ValueError(f"metric '{metric.name}' reads {want}, but loss '{loss.name}' takes "
                         f"{'integer labels' if loss.sparse else 'target rows'}")
    if isinstance(metric, _Confusion) and getattr(loss, 'from_logits', False) and not metric.from_logits:
        raise ValueError(f"metric '{metric.name}' thresholds probabilities, but with {loss.name}(from_logits=True) "
                         f"the model outputs logits: use numbanet.metrics.{type(metric).__name__}(from_logits=True)")
    if isinstance(metric, TopKCategoricalAccuracy) and metric.k >= n_out:
        raise ValueError(f"metric '{metric.name}' with k={metric.k} on a model with {n_out} outputs would count "
                         f"every sample: k must be below {n_out}")
    return metric
