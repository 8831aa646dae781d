"""Callbacks: EarlyStopping stops, and restores the best weights when asked."""

import numpy as np

import numbanet
from tests.helpers import blobs, mlp


def test_early_stopping_restores_best(rng):
    x, labels = blobs(rng, n=100)
    model = mlp()
    model.compile(optimizer=numbanet.optimizers.SGD(0.0), loss='sparse_categorical_crossentropy')
    stop = numbanet.callbacks.EarlyStopping(monitor='loss', patience=1)
    history = model.fit(x, labels, epochs=10, callbacks=[stop], verbose=0)
    assert len(history.epoch) == 2  # lr 0: no improvement after the first epoch


def test_early_stopping_restores_best_weights(rng):
    x, labels = blobs(rng, n=100)
    model = mlp()
    model.compile(optimizer=numbanet.optimizers.SGD(0.5), loss='sparse_categorical_crossentropy')
    best = {}

    class Spy(numbanet.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            best[epoch] = (logs['val_loss'], self.model.get_weights())
    # A validation set the model cannot learn: val_loss rises once training fits the training set.
    val_x = rng.standard_normal((50, 12)).astype(np.float32) * 3
    stop = numbanet.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model.fit(x, labels, epochs=30, validation_data=(val_x, rng.integers(0, 5, 50)), callbacks=[Spy(), stop],
              verbose=0)
    assert stop.stopped_epoch > 0
    want = min(best.values(), key=lambda v: v[0])[1]
    for a, b in zip(model.get_weights(), want):
        np.testing.assert_array_equal(a, b)
