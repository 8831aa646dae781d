"""Metrics accumulated over an epoch from per-batch counts computed by kernels."""


class Metric:
    argmax_only = False  # reads only the argmax of each row, so logits serve as well as probabilities
    sparse = False       # reads integer labels rather than target rows

    def __init__(self, name):
        self.name = name
        self.reset()

    def reset(self):
        self._sum = 0.0
        self._count = 0

    def result(self):
        return self._sum / self._count if self._count else 0.0

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class CategoricalAccuracy(Metric):
    argmax_only = True

    def __init__(self, name='categorical_accuracy'):
        super().__init__(name)

    def update(self, k, pred, targets):
        self._sum += k.categorical_accuracy_count(pred, targets)
        self._count += pred.shape[0]


class SparseCategoricalAccuracy(Metric):
    argmax_only = True
    sparse = True

    def __init__(self, name='sparse_categorical_accuracy'):
        super().__init__(name)

    def update(self, k, pred, labels):
        self._sum += k.sparse_categorical_accuracy_count(pred, labels)
        self._count += pred.shape[0]


class BinaryAccuracy(Metric):
    def __init__(self, name='binary_accuracy', threshold=0.5):
        self.threshold = float(threshold)
        super().__init__(name)

    def update(self, k, pred, targets):
        self._sum += k.binary_accuracy_count(pred, targets, self.threshold)
        self._count += pred.size


class MeanSquaredError(Metric):
    def __init__(self, name='mean_squared_error'):
        super().__init__(name)

    def update(self, k, pred, targets):
        self._sum += k.error_sums(pred, targets)[1]
        self._count += pred.size


class MeanAbsoluteError(Metric):
    def __init__(self, name='mean_absolute_error'):
        super().__init__(name)

    def update(self, k, pred, targets):
        self._sum += k.error_sums(pred, targets)[0]
        self._count += pred.size


_BY_NAME = {
    'categorical_accuracy': CategoricalAccuracy,
    'sparse_categorical_accuracy': SparseCategoricalAccuracy,
    'binary_accuracy': BinaryAccuracy,
    'mean_squared_error': MeanSquaredError, 'mse': MeanSquaredError,
    'mean_absolute_error': MeanAbsoluteError, 'mae': MeanAbsoluteError,
}


def get(identifier, loss, n_out):
    """A metric object from a name or object; 'accuracy' picks the kind that fits the loss, as in Keras."""
    if isinstance(identifier, Metric):
        metric = identifier
    elif identifier in ('accuracy', 'acc'):
        if loss.sparse:
            metric = SparseCategoricalAccuracy(name=identifier)
        elif n_out == 1:
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
    return metric
