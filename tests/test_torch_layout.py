"""PyTorch's layout: weights a torch.nn.Sequential saved load into the matching model, and save back."""
import numpy as np

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
