"""Conv2D and Conv1D as layers: Keras's output shapes, values against numpy, a training step of a small convnet
against an independent numpy one, finite differences, the fused ReLU, configs and saving, and what they refuse."""
import math

import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet.models import load_model
from tests.helpers import finite_difference_check
from tests.helpers import reference_cnn as ref


def keras_out(size, k, stride, dilation, padding):
    span = dilation * (k - 1) + 1
    return math.floor((size - span) / stride) + 1 if padding == 'valid' else math.ceil(size / stride)


@pytest.mark.parametrize('kernel,strides,dilation,padding', [
    (3, 1, 1, 'valid'), ((3, 2), 2, 1, 'same'), (2, 1, 1, 'same'), (4, (1, 3), 1, 'valid'), (3, 1, 2, 'same'),
    ((2, 3), 1, (2, 1), 'valid'), (5, 3, 1, 'SAME')])
def test_conv2d_output_shapes_follow_keras(kernel, strides, dilation, padding):
    layer = layers.Conv2D(4, kernel, strides=strides, padding=padding, dilation_rate=dilation)
    two = lambda v: (v, v) if isinstance(v, int) else v
    k, s, d = two(kernel), two(strides), two(dilation)
    want = tuple(keras_out(n, k[i], s[i], d[i], padding.lower()) for i, n in enumerate((9, 10))) + (4,)
    assert layer(layers.Input(shape=(9, 10, 3))).shape == (None,) + want
    assert layer.kernel.shape == k + (3, 4) and layer.bias.shape == (4,)


@pytest.mark.parametrize('kernel,strides,dilation,padding,want', [
    (3, 1, 1, 'valid', 9), (3, 2, 1, 'same', 6), (4, 1, 1, 'causal', 11), (3, 1, 3, 'causal', 11), (2, 3, 1, 'valid', 4)])
def test_conv1d_output_shapes_follow_keras(kernel, strides, dilation, padding, want):
    layer = layers.Conv1D(5, kernel, strides=strides, padding=padding, dilation_rate=dilation)
    assert layer(layers.Input(shape=(11, 2))).shape == (None, want, 5)
    assert layer.kernel.shape == (kernel, 2, 5)


def numpy_conv2d(x, w, b, strides, dilation, pads, out_hw):
    N, H, W, C = x.shape
    KH, KW, _, F = w.shape
    (pt, pl), (Ho, Wo) = pads, out_hw
    big = np.zeros((N, H + KH * dilation[0] + Ho * strides[0], W + KW * dilation[1] + Wo * strides[1], C))
    big[:, pt:pt + H, pl:pl + W] = x
    out = np.zeros((N, Ho, Wo, F)) + b
    for ky in range(KH):
        for kx in range(KW):
            y0, x0 = ky * dilation[0], kx * dilation[1]
            out += big[:, y0:y0 + Ho * strides[0]:strides[0], x0:x0 + Wo * strides[1]:strides[1]] @ w[ky, kx]
    return out


@pytest.mark.parametrize('kernel,strides,dilation,padding,activation', [
    (3, 1, 1, 'valid', None), (3, 2, 1, 'same', 'relu'), (2, 1, 1, 'same', 'tanh'), (3, 1, 2, 'same', 'relu'),
    ((4, 3), (2, 1), 1, 'same', None)])
def test_conv2d_values_match_numpy(rng, kernel, strides, dilation, padding, activation):
    x = rng.standard_normal((3, 7, 9, 2)).astype(np.float32)
    model = numbanet.Sequential([layers.Input((7, 9, 2)), layers.Conv2D(5, kernel, strides=strides, padding=padding,
                                                                        dilation_rate=dilation, activation=activation)])
    conv = model.layers[0]
    w, b = conv.get_weights()
    b = rng.standard_normal(5).astype(np.float32)
    conv.set_weights([w, b])
    KH, KW = w.shape[:2]
    s = (strides, strides) if isinstance(strides, int) else strides
    d = (dilation, dilation)
    Ho, Wo = model.graph.output.shape[1:3]
    pads = [0, 0]
    if padding == 'same':
        for i, (n, k) in enumerate(((7, KH), (9, KW))):
            span = d[i] * (k - 1) + 1
            pads[i] = max((model.graph.output.shape[1 + i] - 1) * s[i] + span - n, 0) // 2
    want = numpy_conv2d(x, w, b, s, d, pads, (Ho, Wo))
    want = {None: want, 'relu': np.maximum(want, 0), 'tanh': np.tanh(want)}[activation]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)


def test_conv1d_causal_sees_no_later_input(rng):
    x = rng.standard_normal((2, 10, 3)).astype(np.float32)
    model = numbanet.Sequential([layers.Input((10, 3)), layers.Conv1D(4, 3, padding='causal', dilation_rate=2)])
    before = model.predict(x, verbose=0)
    x2 = x.copy()
    x2[:, 6:] += 1.0  # change the future from step 6 on
    after = model.predict(x2, verbose=0)
    np.testing.assert_array_equal(after[:, :6], before[:, :6])
    assert not np.allclose(after[:, 6:], before[:, 6:])
    # and a causal Conv1D is a Conv2D over a height of one with the padding put first
    w, b = model.layers[0].get_weights()
    padded = np.concatenate([np.zeros((2, 4, 3), np.float32), x], 1)
    want = sum(padded[:, 2 * t:2 * t + 10] @ w[t] for t in range(3)) + b
    np.testing.assert_allclose(before, want, rtol=1e-5, atol=1e-5)


def test_one_training_step_matches_an_independent_numpy_convnet(rng):
    x = rng.standard_normal((6, 9, 8, 2)).astype(np.float32)
    labels = rng.integers(0, 4, 6)
    model = numbanet.Sequential([
        layers.Input((9, 8, 2)),
        layers.Conv2D(5, 3, padding='same', activation='relu'), layers.MaxPooling2D(2),
        layers.Conv2D(3, (2, 3), strides=2, activation='relu'),
        layers.Flatten(), layers.Dense(4, activation='softmax')], seed=3)
    model.compile(optimizer=numbanet.optimizers.SGD(0.1), loss='sparse_categorical_crossentropy')
    params = [tuple(layer.get_weights()) for layer in model.layers if layer.weights_list]
    loss, want = ref.sgd_step([(w.astype(np.float64), b.astype(np.float64)) for w, b in params], x, labels, 0.1,
                              [(1, 'same', True), (2, 'valid', False)])
    history = model.fit(x, labels, batch_size=6, epochs=1, shuffle=False, verbose=0)
    assert history.history['loss'][0] == pytest.approx(loss, rel=1e-5)
    got = [tuple(layer.get_weights()) for layer in model.layers if layer.weights_list]
    for (gw, gb), (ww, wb) in zip(got, want):
        np.testing.assert_allclose(gw, ww, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(gb, wb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('make,shape', [
    (lambda: layers.Conv2D(3, 3, padding='same', activation='tanh'), (6, 7, 2)),
    (lambda: layers.Conv2D(2, (2, 3), strides=2), (7, 6, 3)),
    (lambda: layers.Conv2D(3, 2, dilation_rate=2, padding='same', activation='relu'), (5, 6, 2)),
    (lambda: layers.Conv2D(3, 3, use_bias=False), (5, 5, 1)),
    (lambda: layers.Conv1D(3, 3, padding='causal', dilation_rate=2, activation='relu'), (9, 2)),
    (lambda: layers.Conv1D(2, 4, strides=2, padding='same'), (9, 3)),
])
def test_gradients_by_finite_differences(rng, make, shape):
    # A Dense before the convolution, so the convolution's input gradient is checked too.
    n_in = int(np.prod(shape))
    x = rng.standard_normal((5, n_in)).astype(np.float32)
    conv = make()
    model = numbanet.Sequential([layers.Input((n_in,)), layers.Dense(n_in, activation='tanh'), layers.Reshape(shape),
                                 conv, layers.Flatten(), layers.Dense(3)], seed=1)
    y = rng.standard_normal((5, 3)).astype(np.float32)
    # ReLU's kink: a small step, so few differences straddle it.
    finite_difference_check(model, x, y, rng, count=8, eps=1e-3 if conv.activation.name == 'relu' else 1e-2)


def test_fused_relu_leaves_no_activation_step_and_matches_the_unfused_layer(rng):
    x = rng.standard_normal((4, 6, 6, 2)).astype(np.float32)
    fused = numbanet.Sequential([layers.Input((6, 6, 2)), layers.Conv2D(3, 3, activation='relu'), layers.Flatten(),
                                 layers.Dense(2, activation='relu'), layers.Dense(2)], seed=2)
    split = numbanet.Sequential([layers.Input((6, 6, 2)), layers.Conv2D(3, 3), layers.ReLU(), layers.Flatten(),
                                 layers.Dense(2), layers.ReLU(), layers.Dense(2)], seed=2)
    split.set_weights(fused.get_weights())
    assert len(fused.plan(4).steps) == 4  # conv, flatten, dense, dense: the ReLUs run inside the products
    np.testing.assert_allclose(fused.predict(x, verbose=0), split.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    y = rng.standard_normal((4, 2)).astype(np.float32)
    for m in (fused, split):
        m.compile(optimizer='sgd', loss='mse')
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(fused.get_weights(), split.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_subclass_that_overrides_forward_gets_no_fused_activation():
    class Doubled(layers.Dense):
        def forward(self, x, out, ctx):
            super().forward(x, out, ctx)
            out *= 2

    assert layers.Dense.fused_activations == ('relu',) and Doubled.fused_activations == ()
    model = numbanet.Sequential([layers.Input((3,)), Doubled(2, activation='relu')])
    model.layers[0].set_weights([-np.eye(3, 2, dtype=np.float32), np.zeros(2, np.float32)])
    np.testing.assert_array_equal(model.predict(np.ones((1, 3), np.float32), verbose=0), [[0.0, 0.0]])


def test_config_round_trip_and_saving(tmp_path, rng):
    model = numbanet.Sequential([
        layers.Input((8, 7, 2)),
        layers.Conv2D(3, (3, 2), strides=(2, 1), padding='same', activation='relu', use_bias=False,
                      kernel_initializer='he_normal', name='c2'),
        layers.Reshape((4 * 7, 3)),
        layers.Conv1D(2, 3, padding='causal', dilation_rate=2, name='c1'),
        layers.Flatten(), layers.Dense(2)], seed=5)
    for layer in model.layers[:3:2]:
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == {**layer.get_config(), 'name': clone.name}
    x = rng.standard_normal((3, 8, 7, 2)).astype(np.float32)
    model.compile(optimizer='adam', loss='mse')
    model.fit(x, rng.standard_normal((3, 2)).astype(np.float32), verbose=0)
    model.save(tmp_path / 'conv.safetensors')
    loaded = load_model(tmp_path / 'conv.safetensors')
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert repr(model.layers[0]).startswith('<Conv2D name=c2, filters=3, kernel_size=(3, 2), strides=(2, 1)')


@pytest.mark.parametrize('make,match', [
    (lambda: layers.Conv2D(0, 3), 'filters must be a positive int, got 0'),
    (lambda: layers.Conv2D(2.5, 3), 'filters must be a positive int'),
    (lambda: layers.Conv2D(2, (3, 0)), r'kernel_size must be .* got \(3, 0\)'),
    (lambda: layers.Conv2D(2, 3, strides=(1, 2, 3)), r'strides must be .* got \(1, 2, 3\)'),
    (lambda: layers.Conv2D(2, 3, padding='full'), "padding must be one of 'valid', 'same', got 'full'"),
    (lambda: layers.Conv2D(2, 3, padding='causal'), "got 'causal'"),
    (lambda: layers.Conv2D(2, 3, strides=2, dilation_rate=2), 'cannot be combined'),
    (lambda: layers.Conv2D(2, 3, groups=2), 'groups must be 1'),
    (lambda: layers.Conv2D(2, 3, data_format='channels_first'), 'channels-last'),
    (lambda: layers.Conv1D(2, 3, dilation_rate=True), 'dilation_rate must be'),
    (lambda: layers.Conv2D(2, 3, activation='nope'), 'nope'),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_inputs_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match=r"layer 'small'.*spans 5 along height, more than the 4"):
        layers.Conv2D(2, 5, name='small')(layers.Input((4, 9, 1)))
    with pytest.raises(ValueError, match=r"layer 'dil'.*spans 7 along width"):
        layers.Conv2D(2, 3, dilation_rate=3, name='dil')(layers.Input((9, 6, 1)))
    with pytest.raises(ValueError, match=r"needs inputs shaped \(batch, height, width, channels\); got \(None, 9\)"):
        layers.Conv2D(2, 3)(layers.Input((9,)))
    with pytest.raises(ValueError, match=r"needs inputs shaped \(batch, length, channels\)"):
        layers.Conv1D(2, 3)(layers.Input((9, 9, 1)))
    model = numbanet.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(2)])
    with pytest.raises(ValueError, match=r'shape'):
        model.predict(np.zeros((2, 6, 5, 1), np.float32), verbose=0)
