"""numbanet.models: rebuilding a model from the architecture a file holds, and refusing one it cannot."""
import json

import pytest

from numbanet.models import SavedFileError, load_model
from tests.helpers import trained_residual


@pytest.fixture
def trained(rng):
    return trained_residual(rng)


def test_load_model_refuses_bad_architecture(tmp_path, trained):
    from safetensors.numpy import save_file
    model = trained[0]
    model.save(tmp_path / 'm.safetensors')
    from safetensors import safe_open
    with safe_open(str(tmp_path / 'm.safetensors'), framework='np') as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta['model'])
    config['layers'][1]['class'] = 'Conv2D'
    save_file(tensors, str(tmp_path / 'arch.safetensors'), metadata={**meta, 'model': json.dumps(config)})
    with pytest.raises(SavedFileError, match='unknown layer'):
        load_model(tmp_path / 'arch.safetensors')
    save_file(tensors, str(tmp_path / 'json.safetensors'), metadata={**meta, 'model': '{not json'})
    with pytest.raises(SavedFileError, match='not JSON'):
        load_model(tmp_path / 'json.safetensors')
    del tensors[model.parameters.weights[-1].name]
    save_file(tensors, str(tmp_path / 'short.safetensors'), metadata=meta)
    with pytest.raises(SavedFileError, match='missing tensor'):
        load_model(tmp_path / 'short.safetensors')
