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
