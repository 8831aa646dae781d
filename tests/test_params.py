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


# ---- the store itself ------------------------------------------------------------------------------------------
def test_trainable_weights_go_to_values_and_state_to_its_own_buffer():
    from numbanet.params import Parameters, Weight
    from numbanet import initializers
    rng = np.random.default_rng(0)
    a = Weight('l/a', (2, 3), initializers.ones)
    s = Weight('l/s', (4,), initializers.zeros, trainable=False)
    b = Weight('l/b', (3,), initializers.ones)
    q = Weight('l/q', (2, 2), initializers.zeros, trainable=False, dtype='int8')
    store = Parameters('cpu')
    store.bind([a, s, b, q], rng)
    assert store.values.shape == (9,) and store.state.shape == (4,) and store.grads.shape == (9,)
    assert np.shares_memory(a.value, store.values) and np.shares_memory(b.value, store.values)
    assert np.shares_memory(s.value, store.state) and s.grad is None
    assert np.shares_memory(a.grad, store.grads) and q.value.dtype == np.int8
    assert not np.shares_memory(q.value, store.values)
    assert store.ranges(frozen=set()) == [(0, 9)]
    assert store.ranges(frozen={id(a)}) == [(6, 9)]
    assert store.ranges(frozen={id(b)}) == [(0, 6)]


def test_a_weight_moves_to_the_store_that_binds_it_last_with_its_value():
    from numbanet.params import Parameters, Weight
    from numbanet import initializers
    rng = np.random.default_rng(0)
    w = Weight('l/w', (3,), initializers.glorot_uniform)
    first, second = Parameters('cpu'), Parameters('cpu')
    first.bind([w], rng)
    w.value[:] = [1, 2, 3]
    second.bind([w], rng)
    assert np.shares_memory(w.value, second.values) and w.value.tolist() == [1, 2, 3]
    w.value[:] = [4, 5, 6]
    first.bind(first.weights, rng)  # takes it back, with the value the other store gave it
    assert np.shares_memory(w.value, first.values) and w.value.tolist() == [4, 5, 6]


def test_flat_mask_follows_the_weights_masks():
    from numbanet.params import Parameters, Weight
    from numbanet import initializers
    a, b = Weight('l/a', (2, 2), initializers.ones), Weight('l/b', (2,), initializers.ones)
    store = Parameters('cpu')
    store.bind([a, b], np.random.default_rng(0))
    store.refresh_mask()
    assert store.mask is None
    a.mask = [[True, False], [False, True]]
    store.refresh_mask()
    assert store.mask.tolist() == [1, 0, 0, 1, 1, 1]
    store.values[:] = 7
    store.apply_mask()
    assert a.value.tolist() == [[7, 0], [0, 7]] and b.value.tolist() == [7, 7]
    a.mask = None
    store.refresh_mask()
    assert store.mask is None


def test_a_weight_reads_like_a_keras_variable():
    dense = layers.Dense(3)
    dense(np.zeros((1, 4), np.float32))
    assert dense.kernel.shape == (4, 3) and np.asarray(dense.kernel).shape == (4, 3)
    np.testing.assert_array_equal(dense.kernel.numpy(), dense.get_weights()[0])
    dense.kernel.assign(np.ones((4, 3)))
    assert dense.get_weights()[0].sum() == 12
    alone = layers.Dense(2)
    alone.ensure_built((5,))
    assert alone.kernel.value is None and alone.kernel.numpy().shape == (5, 2)  # initialised on first read


def test_model_to_the_same_device_is_a_no_op_and_an_unknown_one_changes_nothing(rng):
    model = mlp()
    values = model.parameters.values
    assert model.to('cpu') is model and model.parameters.values is values
    import pytest
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        model.to('tpu')
    assert model.device == 'cpu' and model.parameters.values is values


def test_a_failed_model_leaves_a_shared_layer_with_its_model(rng):
    import pytest
    base = mlp(hidden=(6,))
    base.compile(optimizer='sgd', loss='sparse_categorical_crossentropy')
    shared = base.layers[1]

    class BadInit(layers.Layer):
        def build(self, input_shape):
            self.add_weight('w', (3,), initializer=lambda shape, rng: np.zeros(4, np.float32))

        def forward(self, x, out, ctx):
            out[...] = x
    inputs = layers.Input(shape=(12,))
    with pytest.raises(ValueError, match="weight 'bad_init.*/w' has shape \\(3,\\)"):
        numbanet.Model(inputs, BadInit()(shared(inputs)))
    before = shared.kernel.numpy().copy()
    x, labels = blobs(rng, n=40)
    base.fit(x, labels, verbose=0)
    assert np.shares_memory(shared.kernel.value, base.parameters.values)
    assert not np.array_equal(shared.kernel.numpy(), before)  # the base model still trains it


def test_assign_takes_exactly_the_weights_shape_and_finite_values():
    import pytest
    dense = layers.Dense(5)
    dense(np.zeros((1, 4), np.float32))
    for bad, message in ((np.ones(5), 'shape'), (np.ones((1, 5)), 'shape'), (np.full((4, 5), np.nan), 'NaN'),
                         (None, 'None')):
        with pytest.raises((ValueError, TypeError), match=message):
            dense.kernel.assign(bad)
    with pytest.raises(ValueError, match='shape'):
        dense.kernel.mask = np.ones((5, 4), bool)  # the transpose has the size, not the shape
