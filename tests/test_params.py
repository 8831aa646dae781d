"""Parameters: weights are views into one flat buffer, shared by every model that holds their layer;
frozen weights stay exactly as they are and the optimizer skips them."""

import numpy as np

import numbanet
from numbanet import layers
from tests.helpers import blobs, mlp


def test_weights_are_views_into_one_flat_buffer(rng):
    model = mlp()
    live = model.trainable_weights
    assert [w.shape for w in live] == [(12, 16), (16,), (16, 8), (8,), (8, 5), (5,)]
    assert all(np.shares_memory(w, model.parameters.values) for w in live)
    live[0][0, 0] = 42.0
    assert model.get_weights()[0][0, 0] == 42.0
    model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy')
    x, labels = blobs(rng, n=40)
    model.fit(x, labels, verbose=0)
    assert live[0][0, 0] != 42.0  # the optimizer updated the very array the user holds


def test_layers_reused_in_a_new_model_share_weights(rng):
    x, labels = blobs(rng, n=100)
    base = mlp(hidden=(16,))
    features = base.layers[1]
    features.trainable = False
    inputs = layers.Input(shape=(12,))
    new = numbanet.Model(inputs, layers.Dense(3, activation='softmax', name='new_head')(features(inputs)), seed=9)
    new.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    kernel = features.get_weights()[0]
    new.fit(x, labels % 3, epochs=2, verbose=0)
    np.testing.assert_array_equal(features.get_weights()[0], kernel)
    np.testing.assert_array_equal(base.get_weights()[0], kernel)  # the base model sees the same weights


# ---- freezing ----------------------------------------------------------------------------------------------------
def test_frozen_layer_stays_bit_identical_and_optimizer_skips_it(rng):
    x, labels = blobs(rng, n=200)
    model = mlp(hidden=(16, 8))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    model.fit(x, labels, epochs=1, verbose=0)  # Adam has momentum for every weight now
    frozen = model.layers[1]
    frozen.trainable = False
    before = [w.copy() for w in frozen.get_weights()]
    others = [w.copy() for w in model.layers[2].get_weights()]
    history = model.fit(x, labels, epochs=2, verbose=0)
    for a, b in zip(before, frozen.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(others[0], model.layers[2].get_weights()[0])
    assert history.history['loss'][-1] < history.history['loss'][0]
    lines = []
    model.summary(print_fn=lines.append)
    assert 'Non-trainable params: 208' in '\n'.join(lines)  # 12*16 + 16
    assert len(model.trainable_weights) == 4 and len(model.non_trainable_weights) == 2
    frozen.trainable = True  # thawing works too
    model.fit(x, labels, epochs=1, verbose=0)
    assert not np.array_equal(before[0], frozen.get_weights()[0])
