"""Metrics: mae beside an mse loss, and metrics on probabilities when the loss trains on logits."""

import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet import Sequential
from tests.helpers import blobs, mlp


def test_mse_model_with_mae_metric(rng):
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3
    model = Sequential([layers.Input(shape=(3,)), layers.Dense(1)], seed=0)
    model.compile(optimizer=numbanet.optimizers.SGD(0.1), loss='mse', metrics=['mae'])
    model.fit(x, y, batch_size=16, epochs=60, verbose=0)
    loss, mae = model.evaluate(x, y, verbose=0)
    assert loss < 1e-4 and mae < 1e-2
    np.testing.assert_allclose(model.get_weights()[0].ravel(), [1, -2, 0.5], atol=1e-2)


def test_fused_model_reports_metrics_on_probabilities(rng):
    # mse as a metric on a softmax model must see probabilities, not the logits used for training.
    x, labels = blobs(rng, n=64)
    y = numbanet.utils.to_categorical(labels, 5)
    model = mlp()
    model.compile(optimizer='sgd', loss='categorical_crossentropy', metrics=['mse'])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    assert logs['mse'] == pytest.approx(float(((p - y) ** 2).mean()), rel=1e-5)
    history = model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    assert history.history['mse'][0] == pytest.approx(logs['mse'], rel=1e-5)


def _identity(n_out):
    inputs = layers.Input(shape=(n_out,))
    return numbanet.Model(inputs, layers.Activation('linear')(inputs))


def test_top_k_precision_recall_and_auc_against_numpy(rng):
    pred = rng.random((200, 1)).astype(np.float32)
    y = (rng.random((200, 1)) < pred * 0.9 + 0.05).astype(np.float32)
    model = _identity(1)
    model.compile(optimizer='sgd', loss='mse', metrics=['precision', 'recall', 'auc'])
    logs = model.evaluate(pred, y, batch_size=37, verbose=0, return_dict=True)
    positive, truth = pred[:, 0] > 0.5, y[:, 0] >= 0.5
    assert logs['precision'] == pytest.approx((positive & truth).sum() / positive.sum())
    assert logs['recall'] == pytest.approx((positive & truth).sum() / truth.sum())
    # The exact ROC area (ties aside): the chance a random positive outscores a random negative.
    pos, neg = pred[truth, 0], pred[~truth, 0]
    exact = (pos[:, None] > neg[None, :]).mean()
    assert logs['auc'] == pytest.approx(exact, abs=0.01)

    scores = rng.standard_normal((50, 6)).astype(np.float32)
    labels = rng.integers(0, 6, 50)
    top = _identity(6)
    top.compile(optimizer='sgd', loss='mse',
                metrics=[numbanet.metrics.TopKCategoricalAccuracy(k=2)])
    rank = (scores > scores[np.arange(50), labels][:, None]).sum(1)
    got = top.evaluate(scores, np.eye(6, dtype=np.float32)[labels], verbose=0, return_dict=True)
    assert got['top_k_categorical_accuracy'] == pytest.approx((rank < 2).mean())
    sparse = _identity(6)
    sparse.compile(optimizer='sgd', loss=numbanet.losses.SparseCategoricalCrossentropy(from_logits=True),
                   metrics=['sparse_top_k_categorical_accuracy'])
    got = sparse.evaluate(scores, labels, verbose=0, return_dict=True)
    assert got['sparse_top_k_categorical_accuracy'] == pytest.approx((rank < 5).mean())


def test_metric_arguments_are_checked():
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match='k must be'):
            numbanet.metrics.TopKCategoricalAccuracy(k=bad)
    with pytest.raises(ValueError, match='threshold'):
        numbanet.metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match='num_thresholds'):
        numbanet.metrics.AUC(num_thresholds=1)


def test_threshold_metrics_on_logits(rng):
    z = rng.standard_normal((300, 1)).astype(np.float32) * 3
    y = (rng.random((300, 1)) < 1 / (1 + np.exp(-z))).astype(np.float32)
    model = _identity(1)
    with pytest.raises(ValueError, match='from_logits=True'):
        model.compile(optimizer='sgd', loss=numbanet.losses.BinaryCrossentropy(from_logits=True), metrics=['auc'])
    model.compile(optimizer='sgd', loss=numbanet.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[numbanet.metrics.AUC(from_logits=True), numbanet.metrics.Precision(from_logits=True)])
    logs = model.evaluate(z, y, verbose=0, return_dict=True)
    probs = 1 / (1 + np.exp(-z.astype(np.float64)))
    on_probs = _identity(1)
    on_probs.compile(optimizer='sgd', loss='mse', metrics=['auc', 'precision'])
    want = on_probs.evaluate(probs.astype(np.float32), y, verbose=0, return_dict=True)
    assert logs['auc'] == pytest.approx(want['auc'], abs=2e-3)
    assert logs['precision'] == pytest.approx(want['precision'])
    with pytest.raises(ValueError, match='k must be below 4'):
        _identity(4).compile(optimizer='sgd', loss='mse', metrics=['top_k_categorical_accuracy'])
