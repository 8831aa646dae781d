"""numbanet.models: rebuilding a model from the architecture a file holds, and refusing one it cannot."""
import json

import numpy as np
import pytest

import numbanet
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
    config['layers'][1]['class'] = 'LSTM'
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


def _rewrite(path, target, edit):
    """A copy of a model file with its architecture JSON changed by edit(config)."""
    from safetensors import safe_open
    from safetensors.numpy import save_file
    with safe_open(str(path), framework='np') as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    meta = dict(meta)
    config = json.loads(meta['model'])
    edit(config, meta, tensors)
    meta['model'] = config if isinstance(config, str) else json.dumps(config)
    save_file(tensors, str(target), metadata=meta)
    return target


def test_crafted_architectures_are_refused_clearly(tmp_path, trained):
    model = trained[0]
    model.save(tmp_path / 'm.safetensors')
    cases = {
        'index -1': (lambda c, m, t: c.update(output=-1), 'name no tensor'),
        'bool index': (lambda c, m, t: c['nodes'][2].update(inputs=[True]), 'come later or do not exist'),
        'string inputs': (lambda c, m, t: c['nodes'][2].update(inputs='1'), 'come later or do not exist'),
        'not a layer': (lambda c, m, t: c['layers'][1].update({'class': 'Model'}), 'unknown layer'),
        'iterations': (lambda c, m, t: m.update(optimizer_iterations='-1'), 'whole number'),
        'huge iterations': (lambda c, m, t: m.update(optimizer_iterations='1' + '0' * 20), 'whole number'),
        'rng state': (lambda c, m, t: m.update(rng_state='{"bit_generator": "PCG64", "state": 5}'), 'rng_state'),
        'nan weight': (lambda c, m, t: t[next(k for k in t if k.endswith('/kernel'))].__setitem__((0, 0), np.nan),
                       'NaN'),
    }
    for name, (edit, message) in cases.items():
        path = _rewrite(tmp_path / 'm.safetensors', tmp_path / f'{name}.safetensors', edit)
        with pytest.raises(SavedFileError, match=message):
            load_model(path)
    deep = _rewrite(tmp_path / 'm.safetensors', tmp_path / 'deep.safetensors',
                    lambda c, m, t: None)
    from safetensors import safe_open
    from safetensors.numpy import save_file
    with safe_open(str(deep), framework='np') as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    meta['model'] = '[' * 100000 + ']' * 100000
    save_file(tensors, str(deep), metadata=meta)
    with pytest.raises(SavedFileError, match='nested too deeply|not JSON'):
        load_model(deep)


def test_files_from_before_int8dense_load(tmp_path, rng):
    # numbanet 0.1 wrote an int8 layer as class Dense with quantized='int8' and Dense's initializers.
    from tests.helpers import mlp
    model = mlp(hidden=(8,))
    model.quantize('int8')
    model.save(tmp_path / 'new.safetensors')

    def legacy(config, meta, tensors):
        for entry in config['layers']:
            if entry['class'] == 'Int8Dense':
                entry['class'] = 'Dense'
                entry['config'].update(quantized='int8', kernel_initializer='glorot_uniform',
                                       bias_initializer='zeros')
                del entry['config']['trainable']
    old = _rewrite(tmp_path / 'new.safetensors', tmp_path / 'old.safetensors', legacy)
    loaded = load_model(old)
    x = rng.standard_normal((9, 12)).astype(np.float32)
    assert loaded.quantized
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


class _Broken(numbanet.layers.Dense):
    @classmethod
    def from_config(cls, config):
        raise RuntimeError('cannot be rebuilt')


def test_custom_objects_are_checked_and_their_errors_named(tmp_path, rng):
    from tests.helpers import mlp
    model = mlp(hidden=(4,))
    model.save(tmp_path / 'm.safetensors')
    with pytest.raises(TypeError, match='must be a dict'):
        load_model(tmp_path / 'm.safetensors', custom_objects=[_Broken])
    renamed = _rewrite(tmp_path / 'm.safetensors', tmp_path / 'b.safetensors',
                       lambda c, m, t: c['layers'][1].update({'class': '_Broken'}))
    with pytest.raises(SavedFileError, match='RuntimeError: cannot be rebuilt'):
        load_model(renamed, custom_objects={'_Broken': _Broken})


def test_a_custom_loss_loads_with_the_model(tmp_path, rng):
    from tests.test_losses import HalfSquaredError
    inputs = numbanet.layers.Input(shape=(3,))
    model = numbanet.Model(inputs, numbanet.layers.Dense(2)(inputs))
    model.compile(optimizer='sgd', loss=HalfSquaredError())
    model.save(tmp_path / 'm.safetensors')
    with pytest.raises(SavedFileError, match='unknown loss'):
        load_model(tmp_path / 'm.safetensors')
    loaded = load_model(tmp_path / 'm.safetensors', custom_objects={'HalfSquaredError': HalfSquaredError})
    assert isinstance(loaded.loss, HalfSquaredError)
