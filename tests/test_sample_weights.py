"""sample_weight and class_weight in fit, evaluate and the *_on_batch calls, Keras's semantics: each sample's
loss times its weight, summed and divided by the batch size ('sum_over_batch_size'); the compiled metrics
stay unweighted. Every loss is checked against a numpy reference of the weighted loss and of its gradient."""
import numpy as np
import pytest

import numbanet
from numbanet import layers, losses

B, N_IN, C = 9, 4, 3


# ---- numpy references: per-sample losses from the logits z (float64) ---------------------------------------------
def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _lse(z):
    return z.max(1) + np.log(np.exp(z - z.max(1, keepdims=True)).sum(1))


def _bce(z, y):
    return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(1)


def _huber(e, delta=1.0):
    return np.where(np.abs(e) <= delta, 0.5 * e ** 2, delta * np.abs(e) - 0.5 * delta ** 2).mean(1)


def _kld(p, y):
    y, p = np.clip(y, 1e-7, 1), np.clip(p, 1e-7, 1)
    return (y * np.log(y / p)).sum(1)


def _hinge(p, y):
    return np.maximum(((1 - y) * p).max(1) - (y * p).sum(1) + 1, 0)


def _targets(rng, kind):
    labels = rng.integers(0, C, B)
    return {'labels': labels, 'onehot': np.eye(C, dtype=np.float32)[labels],
            'soft': (np.eye(C)[labels] * 0.7 + 0.1).astype(np.float32),
            'binary': (rng.random((B, C)) > 0.5).astype(np.float32),
            'real': rng.standard_normal((B, C)).astype(np.float32)}[kind]


# name: (loss, output activation, targets, per-sample loss of (logits z, targets y))
CASES = {
    'categorical_crossentropy': ('categorical_crossentropy', 'softmax', 'soft',
                                 lambda z, y: (y * (_lse(z)[:, None] - z)).sum(1)),
    'categorical_crossentropy_logits': (lambda: losses.CategoricalCrossentropy(from_logits=True), None, 'onehot',
                                        lambda z, y: _lse(z) - (y * z).sum(1)),
    'sparse_categorical_crossentropy': ('sparse_categorical_crossentropy', 'softmax', 'labels',
                                        lambda z, y: _lse(z) - z[np.arange(len(y)), y]),
    'binary_crossentropy': ('binary_crossentropy', 'sigmoid', 'binary', _bce),
    'binary_crossentropy_logits': (lambda: losses.BinaryCrossentropy(from_logits=True), None, 'binary', _bce),
    'mse': ('mse', None, 'real', lambda z, y: ((z - y) ** 2).mean(1)),
    'mae': ('mae', None, 'real', lambda z, y: np.abs(z - y).mean(1)),
    'huber': ('huber', None, 'real', lambda z, y: _huber(z - y)),
    'log_cosh': ('log_cosh', None, 'real', lambda z, y: np.log(np.cosh(z - y)).mean(1)),
    'mse_after_tanh': ('mse', 'tanh', 'real', lambda z, y: ((np.tanh(z) - y) ** 2).mean(1)),
    'kl_divergence': ('kl_divergence', 'softmax', 'soft', lambda z, y: _kld(_softmax(z), y)),
    'categorical_hinge': ('categorical_hinge', 'softmax', 'onehot', lambda z, y: _hinge(_softmax(z), y)),
}


def _one_layer(activation, seed=3):
    inputs = layers.Input(shape=(N_IN,))
    return numbanet.Model(inputs, layers.Dense(C, activation=activation)(inputs), seed=seed)


def _numeric_logit_grad(f, z, eps=1e-6):
    g = np.zeros_like(z)
    for i in np.ndindex(*z.shape):
        up, down = z.copy(), z.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (f(up) - f(down)) / (2 * eps)
    return g


def _check_one_step(model, x, y, w, objective):
    """One SGD(1.0) step over the whole batch moves the kernel by x^T G and the bias by sum(G), G the gradient
    of objective(z) = sum_b w_b l_b / B with respect to the logits z = x W + b; the reported loss is
    objective(z)."""
    W, bias = (a.astype(np.float64) for a in model.get_weights())
    z = x.astype(np.float64) @ W + bias
    G = _numeric_logit_grad(objective, z)
    history = model.fit(x, y, sample_weight=w, batch_size=B, epochs=1, shuffle=False, verbose=0)
    W1, b1 = model.get_weights()
    np.testing.assert_allclose(W - W1, x.T.astype(np.float64) @ G, rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose(bias - b1, G.sum(0), rtol=2e-4, atol=2e-6)
    assert history.history['loss'][0] == pytest.approx(objective(z), rel=1e-5)


@pytest.mark.parametrize('name', sorted(CASES))
def test_each_loss_weighs_its_value_and_gradient_like_numpy(rng, name):
    loss, activation, kind, per_sample = CASES[name]
    x = rng.standard_normal((B, N_IN)).astype(np.float32)
    y = _targets(rng, kind)
    w = (rng.random(B) * 2).astype(np.float32)
    w[4] = 0.0
    model = _one_layer(activation)
    model.compile(optimizer=numbanet.optimizers.SGD(1.0), loss=loss() if callable(loss) else loss)
    objective = lambda z: float((w * per_sample(z, y)).sum() / B)
    W, bias = (a.astype(np.float64) for a in model.get_weights())
    z = x.astype(np.float64) @ W + bias
    assert model.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0) == pytest.approx(objective(z), rel=1e-5)
    _check_one_step(model, x, y, w, objective)


def test_distillation_weighs_its_value_and_gradient_like_numpy(rng):
    from numbanet.distillation import DistillationLoss
    T, alpha = 2.0, 0.3
    x = rng.standard_normal((B, N_IN)).astype(np.float32)
    y = _targets(rng, 'onehot')
    w = (rng.random(B) * 2).astype(np.float32)
    teacher = _one_layer(None, seed=9)
    t = teacher.predict(x, verbose=0).astype(np.float64)
    student = _one_layer('softmax')
    student.compile(optimizer=numbanet.optimizers.SGD(1.0), loss=DistillationLoss(teacher, T, alpha))

    def objective(z):
        hard = _lse(z) - (y * z).sum(1)
        pt, log_pt = _softmax(t / T), t / T - _lse(t / T)[:, None]
        soft = (pt * (log_pt - (z / T - _lse(z / T)[:, None]))).sum(1)
        return float((w * (alpha * hard + (1 - alpha) * T * T * soft)).sum() / B)
    _check_one_step(student, x, y, w, objective)


def test_a_loss_of_ones_own_weighs_samples_row_by_row(rng):
    class HalfSquaredError(losses.Loss):
        def forward(self, k, pred, targets):
            return float(0.5 * ((pred - targets) ** 2).sum() / pred.shape[1])

        def backward(self, k, dpred, pred, targets):
            np.divide(pred - targets, pred.size, out=dpred)
    x = rng.standard_normal((B, N_IN)).astype(np.float32)
    y, w = _targets(rng, 'real'), rng.random(B).astype(np.float32)
    model = _one_layer(None)
    model.compile(optimizer=numbanet.optimizers.SGD(1.0), loss=HalfSquaredError())
    _check_one_step(model, x, y, w, lambda z: float((w * 0.5 * ((z - y) ** 2).mean(1)).sum() / B))


def test_a_loss_overriding_train_without_weights_is_refused_before_anything_changes(rng):
    class Folded(losses.MeanSquaredError):
        def train(self, k, plan, targets):
            return super().train(k, plan, targets)
    x, y = rng.standard_normal((B, N_IN)).astype(np.float32), _targets(rng, 'real')
    model = _one_layer(None)
    model.compile(optimizer='sgd', loss=Folded())
    before = model.get_weights()
    with pytest.raises(ValueError, match='weights=None'):
        model.fit(x, y, sample_weight=np.ones(B), verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.fit(x, y, verbose=0)  # unweighted it trains as before


# ---- what weights mean -------------------------------------------------------------------------------------------
def _trained(x, y, **fit_args):
    model = _one_layer('softmax')
    model.compile(optimizer=numbanet.optimizers.SGD(0.5), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, **fit_args)
    return model, history


def test_weights_of_one_change_nothing_to_the_bit(rng):
    x, y = rng.standard_normal((B, N_IN)).astype(np.float32), _targets(rng, 'labels')
    plain, h1 = _trained(x, y)
    ones, h2 = _trained(x, y, sample_weight=np.ones(B))
    for a, b in zip(plain.get_weights(), ones.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert h1.history == h2.history


def test_a_zero_weight_drops_the_row_from_the_gradient_sum(rng):
    # sum_over_batch_size keeps dividing by the whole batch: the step is (B-1)/B of the step without the row.
    x, y = rng.standard_normal((B, N_IN)).astype(np.float32), _targets(rng, 'labels')
    w = np.ones(B, np.float32)
    w[5] = 0.0
    keep = np.arange(B) != 5
    steps = []
    for xs, ys, ws in ((x, y, w), (x[keep], y[keep], None)):
        model = _one_layer('softmax')
        model.compile(optimizer=numbanet.optimizers.SGD(1.0), loss='sparse_categorical_crossentropy')
        before = model.get_weights()
        model.fit(xs, ys, sample_weight=ws, batch_size=len(xs), epochs=1, verbose=0)
        steps.append([a - b for a, b in zip(before, model.get_weights())])
    for weighted, dropped in zip(*steps):
        np.testing.assert_allclose(weighted, dropped * (B - 1) / B, rtol=1e-5, atol=1e-7)


def test_metrics_stay_unweighted_and_the_loss_is_weighted_over_every_batch(rng):
    x, y = rng.standard_normal((30, N_IN)).astype(np.float32), rng.integers(0, C, 30)
    w = (rng.random(30) * 3).astype(np.float32)
    model, _ = _trained(x, y)
    z = x.astype(np.float64) @ model.get_weights()[0] + model.get_weights()[1]
    loss, acc = model.evaluate(x, y, sample_weight=w, batch_size=7, verbose=0)
    assert loss == pytest.approx(float((w * (_lse(z) - z[np.arange(30), y])).sum() / 30), rel=1e-5)
    assert acc == model.evaluate(x, y, batch_size=7, verbose=0)[1] == pytest.approx((z.argmax(1) == y).mean())
    assert model.test_on_batch(x, y, sample_weight=w)[0] == pytest.approx(loss, rel=1e-6)


def test_class_weight_is_a_sample_weight_looked_up_by_class(rng):
    x = rng.standard_normal((B, N_IN)).astype(np.float32)
    labels = _targets(rng, 'labels')
    table = {0: 2.0, 2: 0.25}  # class 1 is left out: it weighs 1
    lookup = np.array([table.get(int(c), 1.0) for c in labels], np.float32)
    by_class, h1 = _trained(x, labels, class_weight=table)
    by_sample, h2 = _trained(x, labels, sample_weight=lookup)
    for a, b in zip(by_class.get_weights(), by_sample.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert h1.history == h2.history
    onehot = np.eye(C, dtype=np.float32)[labels]  # one-hot rows: the class is the argmax
    for loss, targets in (('categorical_crossentropy', onehot), ('sparse_categorical_crossentropy', labels)):
        models = []
        for args in ({'class_weight': table}, {'sample_weight': lookup}):
            model = _one_layer('softmax')
            model.compile(optimizer='sgd', loss=loss)
            model.train_on_batch(x, targets, **args)
            models.append(model)
        for a, b in zip(*(m.get_weights() for m in models)):
            np.testing.assert_array_equal(a, b)


def test_class_weight_on_a_binary_output_rounds_the_targets(rng):
    x = rng.standard_normal((B, N_IN)).astype(np.float32)
    y = (rng.random(B) > 0.5).astype(np.float32)
    models = []
    for args in ({'class_weight': {1: 3.0}}, {'sample_weight': np.where(y == 1, 3.0, 1.0)}):
        inputs = layers.Input(shape=(N_IN,))
        model = numbanet.Model(inputs, layers.Dense(1, activation='sigmoid')(inputs), seed=1)
        model.compile(optimizer='sgd', loss='binary_crossentropy')
        models.append((model, model.fit(x, y, batch_size=4, shuffle=False, verbose=0, **args)))
    (a, ha), (b, hb) = models
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)
    assert ha.history == hb.history


def test_validation_is_weighted_by_its_own_sample_weights_and_never_by_class_weight(rng):
    x, y = rng.standard_normal((20, N_IN)).astype(np.float32), rng.integers(0, C, 20)
    w = (rng.random(20) * 2).astype(np.float32)
    model, history = _trained(x[:12], y[:12], validation_data=(x[12:], y[12:], w[12:]))
    assert history.history['val_loss'][-1] == pytest.approx(
        model.evaluate(x[12:], y[12:], sample_weight=w[12:], verbose=0)[0], rel=1e-6)
    model, history = _trained(x, y, sample_weight=w, validation_split=0.4)  # the last 8 samples validate
    assert history.history['val_loss'][-1] == pytest.approx(
        model.evaluate(x[12:], y[12:], sample_weight=w[12:], verbose=0)[0], rel=1e-6)
    model, history = _trained(x, y, class_weight={0: 5.0}, validation_split=0.4)
    assert history.history['val_loss'][-1] == pytest.approx(model.evaluate(x[12:], y[12:], verbose=0)[0], rel=1e-6)


# ---- refused before anything changes -----------------------------------------------------------------------------
BAD = [
    ({'sample_weight': -np.ones(B)}, ValueError, '>= 0'),
    ({'sample_weight': np.r_[np.ones(B - 1), np.nan]}, ValueError, 'NaN or Inf'),
    ({'sample_weight': np.r_[np.ones(B - 1), np.inf]}, ValueError, 'NaN or Inf'),
    ({'sample_weight': np.ones(B - 1)}, ValueError, f'{B - 1} weights but there are {B} samples'),
    ({'sample_weight': np.ones((B, 2))}, ValueError, 'one weight per sample'),
    ({'sample_weight': np.array(['a'] * B)}, TypeError, 'strings'),
    ({'class_weight': {3: 1.0}}, ValueError, r'class indices in \[0, 3\)'),
    ({'class_weight': {-1: 1.0}}, ValueError, 'class indices'),
    ({'class_weight': {'0': 1.0}}, ValueError, 'class indices'),
    ({'class_weight': {True: 1.0}}, ValueError, 'class indices'),
    ({'class_weight': {0: -2.0}}, ValueError, 'finite number >= 0'),
    ({'class_weight': {0: float('nan')}}, ValueError, 'finite number >= 0'),
    ({'class_weight': [1.0, 2.0, 3.0]}, TypeError, 'must be a dict'),
    ({'class_weight': {0: 1.0}, 'sample_weight': np.ones(B)}, ValueError, 'cannot be used together'),
    ({'validation_data': (np.ones((2, N_IN)), np.zeros(2), -np.ones(2))}, ValueError, 'validation sample_weight'),
]


@pytest.mark.parametrize('args, error, match', BAD)
def test_bad_weights_are_refused_leaving_the_model_unchanged(rng, args, error, match):
    x, y = rng.standard_normal((B, N_IN)).astype(np.float32), _targets(rng, 'labels')
    model, _ = _trained(x, y)
    before, iterations = model.get_weights(), model.optimizer.iterations
    with pytest.raises(error, match=match):
        model.fit(x, y, verbose=0, **args)
    if 'validation_data' not in args:
        with pytest.raises(error, match=match):
            model.train_on_batch(x, y, **args)
    if set(args) == {'sample_weight'}:
        with pytest.raises(error, match=match):
            model.evaluate(x, y, verbose=0, **args)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == iterations


def test_a_column_of_weights_is_one_weight_per_sample(rng):
    x, y = rng.standard_normal((B, N_IN)).astype(np.float32), _targets(rng, 'labels')
    w = rng.random(B)
    a, _ = _trained(x, y, sample_weight=w)
    b, _ = _trained(x, y, sample_weight=w[:, None])
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)
