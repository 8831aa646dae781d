"""The public layer contract: a layer written by a user (numbanet.layers.Layer subclass) trains, keeps
non-trainable state, sees the training flag, saves and loads."""
import numpy as np
import pytest

import numbanet
from numbanet import layers
from tests.helpers import finite_difference_check, load_example

prelu = load_example('custom_layer')


def _prelu_model(seed=0, first=False):
    inputs = layers.Input(shape=(7,))
    x = prelu.PReLU(alpha_initializer='ones')(inputs) if first else inputs
    x = prelu.PReLU()(layers.Dense(9)(x))
    outputs = layers.Dense(3)(x)
    return numbanet.Model(inputs, outputs, seed=seed)


def test_prelu_kernels_match_numpy(rng):
    x = rng.standard_normal((13, 7)).astype(np.float32)
    alpha = rng.standard_normal(7).astype(np.float32)
    out = np.empty_like(x)
    prelu.prelu_forward(out, x, alpha)
    np.testing.assert_array_equal(out, np.where(x > 0, x, alpha * x))
    dout = rng.standard_normal(x.shape).astype(np.float32)
    dx, dalpha = np.empty_like(x), np.full(7, 0.5, np.float32)
    prelu.prelu_backward(dx, dalpha, dout, x, alpha)
    np.testing.assert_allclose(dx, np.where(x > 0, dout, alpha * dout), rtol=1e-6)
    np.testing.assert_allclose(dalpha - 0.5, np.where(x > 0, 0, x * dout).sum(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('first', [False, True])
def test_custom_layer_gradient_by_finite_differences(rng, first):
    # Through the public API only: one SGD step of rate 1 gives the gradient, evaluate() the loss.
    model = _prelu_model(first=first)
    ws = model.get_weights()
    ws[1 if first else 2][:] = 0.3  # a slope away from 0, so it matters
    model.set_weights(ws)
    x = rng.standard_normal((11, 7)).astype(np.float32)
    y = rng.standard_normal((11, 3)).astype(np.float32)
    finite_difference_check(model, x, y, rng)


def test_custom_layer_trains_saves_and_loads(tmp_path, rng):
    model = _prelu_model()
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='mse')
    x = rng.standard_normal((64, 7)).astype(np.float32)
    y = np.abs(x[:, :3])  # needs the slope to move from 0
    before = model.layers[2].alpha.numpy().copy()
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0)
    assert history.history['loss'][-1] < history.history['loss'][0]
    assert not np.array_equal(model.layers[2].alpha.numpy(), before)
    model.save(tmp_path / 'm.safetensors')
    with pytest.raises(numbanet.models.SavedFileError, match='custom_objects'):
        numbanet.models.load_model(tmp_path / 'm.safetensors')
    loaded = numbanet.models.load_model(tmp_path / 'm.safetensors', custom_objects={'PReLU': prelu.PReLU})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match='Layer, Loss, Optimizer, Metric or LearningRateSchedule subclass'):
        numbanet.models.load_model(tmp_path / 'm.safetensors', custom_objects={'PReLU': dict})


class RunningMean(layers.Layer):
    """Passes its input through; in training it also keeps a moving mean of it per feature, and counts the
    batches it saw: state in non-trainable weights, and the training flag."""

    def build(self, input_shape):
        self.mean = self.add_weight('mean', input_shape, initializer='zeros', trainable=False)
        self.batches = self.add_weight('batches', (1,), initializer='zeros', trainable=False)
        self.scale = self.add_weight('scale', input_shape, initializer='ones')

    def forward(self, x, out, ctx):
        np.multiply(x, self.scale.value, out=out)
        if ctx.training:
            self.mean.value[...] = 0.9 * self.mean.value + 0.1 * x.mean(0)
            self.batches.value[0] += 1

    def backward(self, x, out, dout, dx, ctx):
        self.scale.grad[...] += (dout * x).sum(0)
        if dx is not None:
            np.multiply(dout, self.scale.value, out=dx)


def test_non_trainable_state_and_the_training_flag(tmp_path, rng):
    inputs = layers.Input(shape=(4,))
    running = RunningMean()
    model = numbanet.Model(inputs, layers.Dense(2)(running(inputs)), seed=1)
    model.compile(optimizer=numbanet.optimizers.SGD(0.1), loss='mse')
    assert model.count_params() == 4 + 1 + 4 + 4 * 2 + 2
    assert len(model.trainable_weights) == 3 and len(model.non_trainable_weights) == 2
    assert model.parameters.state.shape == (5,) and model.parameters.values.shape == (14,)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = rng.standard_normal((40, 2)).astype(np.float32)
    model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    assert running.batches.numpy()[0] == 8  # 2 epochs x 4 batches; the optimizer never touched it
    want = np.zeros(4)
    for _ in range(2):
        for s in range(0, 40, 10):
            want = 0.9 * want + 0.1 * x[s:s + 10].mean(0)
    np.testing.assert_allclose(running.mean.numpy(), want, rtol=1e-5, atol=1e-6)
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    model(x)
    assert running.batches.numpy()[0] == 8  # inference leaves the state alone
    model(x, training=True)
    assert running.batches.numpy()[0] == 9
    model.save(tmp_path / 'm.safetensors')
    loaded = numbanet.models.load_model(tmp_path / 'm.safetensors', custom_objects={'RunningMean': RunningMean})
    state = [w for w in loaded.parameters.weights if not w.trainable]
    np.testing.assert_array_equal(state[0].numpy(), running.mean.numpy())
    assert state[1].numpy()[0] == 9
    lines = []
    model.summary(print_fn=lines.append)
    assert 'Non-trainable params: 5' in '\n'.join(lines)


def test_eager_call_of_a_custom_layer(rng):
    layer = prelu.PReLU(alpha_initializer='ones')
    x = rng.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(layer(x), x, rtol=1e-6)  # slope 1: the identity
    assert layer.built and [w.shape for w in layer.get_weights()] == [(3,)]


def test_add_weight_and_contract_errors(rng):
    class Bad(layers.Layer):
        def build(self, input_shape):
            self.add_weight('w', (input_shape[0], 2))
            self.add_weight('w', (2,))
    with pytest.raises(ValueError, match="already has a weight named 'w'"):
        Bad()(layers.Input(shape=(3,)))

    class BadShape(layers.Layer):
        def build(self, input_shape):
            self.add_weight('w', (0, 2))
    with pytest.raises(ValueError, match='positive int'):
        BadShape()(layers.Input(shape=(3,)))

    class NoBackward(layers.Layer):
        def forward(self, x, out, ctx):
            out[...] = x
    inputs = layers.Input(shape=(3,))
    model = numbanet.Model(inputs, layers.Dense(2)(NoBackward()(layers.Dense(3)(inputs))))
    x = rng.standard_normal((4, 3)).astype(np.float32)
    assert model.predict(x, verbose=0).shape == (4, 2)
    model.compile(optimizer='sgd', loss='mse')
    before = model.get_weights()
    with pytest.raises(NotImplementedError, match='no backward'):
        model.fit(x, np.zeros((4, 2), np.float32), verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the refused step changed nothing
    with pytest.raises(ValueError, match="without '/'"):
        layers.Dense(2, name='a/b')


def test_reserved_and_taken_names():
    # Saved files name their bookkeeping so that it cannot collide with a layer's (tests/test_saving.py).
    assert [layers.Dense(2, name=n).name for n in ('mask', 'optimizer')] == ['mask', 'optimizer']
    with pytest.raises(ValueError, match='True or False'):
        layers.Dense(2, trainable='no')
    explicit = layers.Dense(2, name='numbered_dense')
    automatic = [layers.Dense(2, name='numbered_dense_1')] + [type('NumberedDense', (layers.Dense,), {})(2)
                                                              for _ in range(3)]
    names = [explicit.name] + [l.name for l in automatic]
    assert len(set(names)) == len(names)  # automatic names skip the ones given by hand


def test_a_failed_build_can_be_retried_and_build_runs_once():
    class Flaky(layers.Layer):
        attempts = 0

        def build(self, input_shape):
            self.w = self.add_weight('w', input_shape)
            Flaky.attempts += 1
            if Flaky.attempts == 1:
                raise RuntimeError('transient')

        def forward(self, x, out, ctx):
            np.multiply(x, self.w.value, out=out)
    layer = Flaky()
    with pytest.raises(RuntimeError, match='transient'):
        layer(layers.Input(shape=(3,)))
    assert layer.weights_list == [] and not layer.built
    layer.build((3,))  # by hand, as Keras users do; the graph then finds it built
    layer(layers.Input(shape=(3,)))
    assert layer.built and len(layer.weights_list) == 1 and Flaky.attempts == 2
    with pytest.raises(RuntimeError, match='in build'):
        layer.add_weight('late', (2,))


def test_an_activation_given_by_name_and_a_bad_output_shape():
    class Scaled(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.activation = 'relu'  # a name, as a Keras user would write it

        def forward(self, x, out, ctx):
            np.multiply(x, 2.0, out=out)
    inputs = layers.Input(shape=(3,))
    model = numbanet.Model(inputs, Scaled()(inputs))
    x = np.array([[-1.0, 0.5, 2.0]], np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), [[0.0, 1.0, 4.0]])

    class BadShape(layers.Layer):
        def compute_output_shape(self, input_shape):
            return (0,)
    with pytest.raises(ValueError, match='compute_output_shape'):
        BadShape()(inputs)


class Dropoutish(layers.Layer):
    """Scratch it asks for only when training: made for model(x, training=True) as for fit."""

    def workspace(self, batch, training):
        return {'mask': (batch, 3)} if training else {}

    def forward(self, x, out, ctx):
        if ctx.training:
            ctx.ws['mask'][...] = 0.5
            np.multiply(x, ctx.ws['mask'], out=out)
        else:
            out[...] = x

    def backward(self, x, out, dout, dx, ctx):
        if dx is not None:
            np.multiply(dout, ctx.ws['mask'], out=dx)


def test_training_scratch_exists_for_a_training_call_without_fit():
    inputs = layers.Input(shape=(3,))
    model = numbanet.Model(inputs, Dropoutish()(inputs))
    x = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(model(x, training=True), 0.5 * x)
    np.testing.assert_array_equal(model(x), x)
    np.testing.assert_array_equal(Dropoutish()(x, training=True), 0.5 * x)
