"""int8 inference against float32 inference of the same trained reference MLP (numbanet both sides):
predict at batch 1000 and at batch 1, named `predict_int8[1000x784]` and `predict_float32[1000x784]`."""
import pytest

import workloads

pytestmark = pytest.mark.numbanet
_models = {}


def _model(kind, mnist):
    if kind not in _models:
        fw = workloads.NumbanetMLP()
        fw.prepare(mnist[0][:10000], mnist[1][:10000])
        fw.epoch()
        if kind == 'int8':
            fw.model.quantize('int8')
        _models[kind] = fw.model
    return _models[kind]


@pytest.mark.parametrize('kind', ['float32', 'int8'])
@pytest.mark.parametrize('batch', [1000, 1], ids=lambda batch: f'{batch}x784')
def test_predict(run, mnist, kind, batch):
    model = _model(kind, mnist)
    x = mnist[2][:batch]
    run(f'predict_{kind}[{batch}x784]', 'numbanet', lambda: model.predict(x, batch_size=batch, verbose=0))
