"""PyTorch's layout: weights a torch.nn.Sequential saved load into the matching model, and save back."""
import numpy as np
import pytest

import numbanet
from numbanet import layers
from tests.helpers import mlp


def test_torch_layout_matches_a_hand_made_state_dict(tmp_path, rng):
    from safetensors.numpy import save_file
    # What torch.nn.Sequential(Linear(12,16), ReLU(), Linear(16,8), ReLU(), Linear(8,5)) saves.
    state = {'0.weight': rng.standard_normal((16, 12), dtype=np.float32), '0.bias': rng.standard_normal(16, dtype=np.float32),
             '2.weight': rng.standard_normal((8, 16), dtype=np.float32), '2.bias': rng.standard_normal(8, dtype=np.float32),
             '4.weight': rng.standard_normal((5, 8), dtype=np.float32), '4.bias': rng.standard_normal(5, dtype=np.float32)}
    save_file(state, str(tmp_path / 'torch.safetensors'))
    model = mlp()
    model.load_weights(tmp_path / 'torch.safetensors')
    x = rng.standard_normal((4, 12)).astype(np.float32)
    h = np.maximum(x @ state['0.weight'].T + state['0.bias'], 0)
    h = np.maximum(h @ state['2.weight'].T + state['2.bias'], 0)
    z = h @ state['4.weight'].T + state['4.bias']
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(model.predict(x, verbose=0), p / p.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    model.save_weights(tmp_path / 'back.safetensors', layout='torch')
    from safetensors.numpy import load_file
    back = load_file(str(tmp_path / 'back.safetensors'))
    assert set(back) == set(state)
    for key in state:
        np.testing.assert_array_equal(back[key], state[key])


def test_torch_layout_of_norms_dropout_and_flatten(tmp_path, rng):
    import pytest
    from safetensors.numpy import load_file, save_file

    import numbanet
    from numbanet import layers
    # torch.nn.Sequential(Flatten(), Linear(12, 8), BatchNorm1d(8), Tanh(), Dropout(0.2), Linear(8, 6),
    #                     LayerNorm(6), Linear(6, 2))
    def model():
        return numbanet.Sequential([layers.Input(shape=(3, 4)), layers.Flatten(), layers.Dense(8),
                                    layers.BatchNormalization(), layers.Activation('tanh'), layers.Dropout(0.2),
                                    layers.Dense(6), layers.LayerNormalization(), layers.Dense(2)], seed=1)
    first = model()
    first.save_weights(tmp_path / 't.safetensors', layout='torch')
    state = load_file(str(tmp_path / 't.safetensors'))
    assert sorted(state) == sorted(['1.weight', '1.bias', '2.weight', '2.bias', '2.running_mean', '2.running_var',
                                    '2.num_batches_tracked', '5.weight', '5.bias', '6.weight', '6.bias', '7.weight',
                                    '7.bias'])
    assert state['1.weight'].shape == (8, 12) and state['2.num_batches_tracked'].dtype == np.int64
    state = {k: (rng.standard_normal(v.shape).astype(np.float32) if v.dtype == np.float32 else v)
             for k, v in state.items()}
    state['2.running_var'] = np.abs(state['2.running_var']) + 0.5
    save_file(state, str(tmp_path / 'u.safetensors'))
    second = model()
    second.load_weights(tmp_path / 'u.safetensors')
    bn = second.layers[2]
    np.testing.assert_array_equal(bn.moving_variance.numpy(), state['2.running_var'])
    np.testing.assert_array_equal(second.layers[1].kernel.numpy(), state['1.weight'].T)
    with pytest.raises(ValueError, match='no torch.nn.Sequential equivalent'):
        numbanet.Sequential([layers.Input(shape=(4,)), layers.Reshape((2, 2))]).save_weights(
            tmp_path / 'r.safetensors', layout='torch')


# ---- convolutions and pools: PyTorch takes images channels-first and flattens (C, H, W) ------------------------
def _chain(shape, stack, seed=0):
    return numbanet.Sequential([layers.Input(shape=shape)] + stack(), seed=seed)


# name: (input shape, the numbanet layers, the equivalent torch.nn.Sequential's modules given torch.nn, the
# indices of its modules with weights). Odd sizes; Keras's BatchNormalization epsilon is 1e-3, PyTorch's 1e-5.
TORCH_MODELS = {
    'convnet': ((7, 9, 3), lambda: [
        layers.Conv2D(4, 2, padding='same', activation='relu'), layers.BatchNormalization(), layers.MaxPooling2D(2),
        layers.ZeroPadding2D(((1, 1), (0, 1))), layers.Conv2D(6, 3, strides=2, padding='same', activation='tanh'),
        layers.AveragePooling2D(3, strides=1, padding='same'), layers.Flatten(), layers.BatchNormalization(),
        layers.Dense(10, activation='relu'), layers.Dropout(0.2), layers.Dense(3, activation='softmax')],
        lambda nn: [nn.Conv2d(3, 4, 2, padding='same'), nn.ReLU(), nn.BatchNorm2d(4, eps=1e-3), nn.MaxPool2d(2),
                    nn.ZeroPad2d((0, 1, 1, 1)), nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.Tanh(),
                    nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), nn.Flatten(),
                    nn.BatchNorm1d(54, eps=1e-3), nn.Linear(54, 10), nn.ReLU(), nn.Dropout(0.2), nn.Linear(10, 3),
                    nn.Softmax(dim=1)], [0, 2, 5, 9, 10, 13]),
    'conv1d': ((11, 3), lambda: [
        layers.Conv1D(4, 3, dilation_rate=2, activation='relu'), layers.MaxPooling1D(2),
        layers.Conv1D(5, 2, padding='same'), layers.BatchNormalization(), layers.GlobalMaxPooling1D(),
        layers.Dense(2)],
        lambda nn: [nn.Conv1d(3, 4, 3, dilation=2), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(4, 5, 2, padding='same'),
                    nn.BatchNorm1d(5, eps=1e-3), nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(5, 2)], [0, 3, 4, 7]),
    'global_average_keepdims': ((6, 5, 2), lambda: [
        layers.Conv2D(3, (2, 3), dilation_rate=(1, 2), use_bias=False), layers.GlobalAveragePooling2D(keepdims=True),
        layers.Flatten(), layers.Dense(2, activation='sigmoid')],
        lambda nn: [nn.Conv2d(2, 3, (2, 3), dilation=(1, 2), bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                    nn.Linear(3, 2), nn.Sigmoid()], [0, 3]),
}


def _trained_chain(name, rng, seed=0):
    shape, stack = TORCH_MODELS[name][:2]
    model = _chain(shape, stack, seed)
    x = rng.standard_normal((16,) + shape).astype(np.float32)
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='mse')
    model.fit(x, rng.random((16, model.graph.output.shape[1])).astype(np.float32), batch_size=6, epochs=2, verbose=0)
    return model, x


@pytest.mark.parametrize('name', sorted(TORCH_MODELS))
def test_torch_layout_of_convolutions_round_trips(tmp_path, rng, name):
    from safetensors.numpy import load_file
    model, x = _trained_chain(name, rng)
    model.save_weights(tmp_path / 't.safetensors', layout='torch')
    state = load_file(str(tmp_path / 't.safetensors'))
    assert sorted({int(key.split('.')[0]) for key in state}) == TORCH_MODELS[name][3]
    conv = model.layers[0]
    assert state['0.weight'].shape == (conv.filters, conv.kernel.shape[-2]) + conv.kernel_size
    other = _chain(TORCH_MODELS[name][0], TORCH_MODELS[name][1], seed=5)
    other.load_weights(tmp_path / 't.safetensors')
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_torch_layout_reorders_the_features_a_flatten_of_images_gives(tmp_path, rng):
    """What PyTorch computes from the state_dict, in numpy: a 1x1 convolution on (N, C, H, W), a Flatten in
    (C, H, W) order, BatchNorm1d and Linear on those features."""
    from safetensors.numpy import load_file
    model = _chain((5, 4, 3), lambda: [layers.Conv2D(6, 1), layers.Flatten(), layers.BatchNormalization(),
                                       layers.Dense(3)])
    x = rng.standard_normal((20, 5, 4, 3)).astype(np.float32)
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='mse')
    model.fit(x, rng.standard_normal((20, 3)).astype(np.float32), batch_size=7, epochs=2, verbose=0)
    model.save_weights(tmp_path / 't.safetensors', layout='torch')
    s = load_file(str(tmp_path / 't.safetensors'))
    h = np.einsum('nchw,oc->nohw', x.transpose(0, 3, 1, 2), s['0.weight'][:, :, 0, 0]) + s['0.bias'][:, None, None]
    h = h.reshape(len(x), -1)
    h = (h - s['2.running_mean']) / np.sqrt(s['2.running_var'] + 1e-3) * s['2.weight'] + s['2.bias']
    np.testing.assert_allclose(model.predict(x, verbose=0), h @ s['3.weight'].T + s['3.bias'], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('shape, stack, message', [
    ((11, 3), lambda: [layers.Conv1D(4, 3, padding='causal')], r"pads \(before, after\) \[\(2, 0\)\]"),
    ((8, 8, 3), lambda: [layers.Conv2D(4, 3, strides=2, padding='same')], r"\[\(0, 1\), \(0, 1\)\].*ZeroPadding2D"),
    ((7, 9, 3), lambda: [layers.MaxPooling2D(2, padding='same')], r"no torch.nn.Sequential equivalent"),
    ((7, 9, 3), lambda: [layers.AveragePooling2D(2, strides=1, padding='same')], r"no torch.nn.Sequential"),
    ((7, 9, 3), lambda: [layers.Conv2D(4, 3), layers.LayerNormalization()], r"channels-first"),
])
def test_torch_layout_refuses_what_pytorch_pads_or_normalizes_otherwise(tmp_path, shape, stack, message):
    with pytest.raises(ValueError, match=message):
        _chain(shape, stack).save_weights(tmp_path / 'r.safetensors', layout='torch')


def test_torch_layout_takes_the_paddings_pytorch_makes(tmp_path):
    # stride 1 with an even kernel: Conv's padding='same'; strided with an even total: padding=p; pools likewise.
    _chain((9, 9, 3), lambda: [layers.Conv2D(4, (2, 4), padding='same'), layers.Conv2D(4, 3, strides=2, padding='same'),
                               layers.MaxPooling2D(3, strides=2, padding='same'), layers.Flatten(),
                               layers.Dense(2)]).save_weights(tmp_path / 'ok.safetensors', layout='torch')


@pytest.mark.parametrize('name', sorted(TORCH_MODELS))
def test_torch_layout_matches_torch(tmp_path, rng, name):
    """Both ways: numbanet's weights in the torch.nn.Sequential compute what predict() does on the same
    images channels-first, and the Sequential's own weights loaded into numbanet compute what it does."""
    torch = pytest.importorskip('torch')
    from safetensors.numpy import load_file, save_file
    model, x = _trained_chain(name, rng)
    net = torch.nn.Sequential(*TORCH_MODELS[name][2](torch.nn))
    model.save_weights(tmp_path / 't.safetensors', layout='torch')
    net.load_state_dict({k: torch.from_numpy(v) for k, v in load_file(str(tmp_path / 't.safetensors')).items()})
    net.eval()
    images = np.moveaxis(x, -1, 1).copy()  # channels-first
    with torch.no_grad():
        np.testing.assert_allclose(net(torch.from_numpy(images)).numpy(), model.predict(x, verbose=0), rtol=1e-4,
                                   atol=1e-5)
        for module in net.modules():  # statistics that are not the initial ones
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.running_mean.copy_(torch.randn(module.running_mean.shape))
                module.running_var.copy_(torch.rand(module.running_var.shape) + 0.5)
        want = net(torch.from_numpy(images)).numpy()
    save_file({k: v.numpy() for k, v in net.state_dict().items()}, str(tmp_path / 'torch.safetensors'))
    other = _chain(TORCH_MODELS[name][0], TORCH_MODELS[name][1], seed=5)
    other.load_weights(tmp_path / 'torch.safetensors')
    np.testing.assert_allclose(other.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)
