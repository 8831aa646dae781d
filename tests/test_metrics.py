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
