"""Metrics accumulated over an epoch from per-batch counts computed by kernels. Each reads the model's
outputs (after the output activation) and the batch's targets; `total` and `count` are public so that
data-parallel training can sum them across processes."""


class Metric:
    sparse = False  # reads integer labels rather than target rows

    def __init__(self, name):
        self.name = name
        self.reset()

    def reset(self):
        self.total = 0.0
        self.count = 0

    def result(self):
        return self.total / self.count if self.count else 0.0

    def get_config(self):
        return {'name': self.name}

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class CategoricalAccuracy(Metric):
    def __init__(self, name='categorical_accuracy'):
        super().__init__(name)

    def update(self, k, pred, targets):
        self.total += k.categorical_accuracy_count(pred, targets)
        self.count += pred.shape[0]


class SparseCategoricalAccuracy(Metric):
    sparse = True

    def __init__(self, name='sparse_categorical_accuracy'):
        super().__init__(name)

    def update(self, k, pred, labels):
        self.total += k.sparse_categorical_accuracy_count(pred, labels)
        self.count += pred.shape[0]


class BinaryAccuracy(Metric):
    def __init__(self, name='binary_accuracy', threshold=0.5):
        self.threshold = float(threshold)
        super().__init__(name)

    def update(self, k, pred, targets):
        self.total += k.binary_accuracy_count(pred, targets, self.threshold)
        self.count += pred.size

    def get_config(self):
        return {'name': self.name, 'threshold': self.threshold}


class MeanSquaredError(Metric):
    def __init__(self, name='mean_squared_error'):
        super().__init__(name)

    def update(self, k, pred, targets):
        self.total += k.error_sums(pred, targets)[1]
        self.count += pred.size


class MeanAbsoluteError(Metric):
    def __init__(self, name='mean_absolute_error'):
        super().__init__(name)

    def update(self, k, pred, targets):
        self.total += k.error_sums(pred, targets)[0]
        self.count += pred.size


CLASSES = {cls.__name__: cls for cls in (CategoricalAccuracy, SparseCategoricalAccuracy, BinaryAccuracy,
                                         MeanSquaredError, MeanAbsoluteError)}
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
