"""int8 inference against float32 inference of the same trained reference MLP (numbanet both sides):
predict at batch 1000 and at batch 1."""
import pytest

import workloads

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
@pytest.mark.parametrize('batch', [1000, 1])
def test_predict(run, mnist, kind, batch):
    model = _model(kind, mnist)
    x = mnist[2][:batch]
    run(f'predict batch {batch}: float32 vs int8', f'numbanet {kind} predict',
        lambda: model.predict(x, batch_size=batch, verbose=0), rounds=50 if batch > 1 else 500,
        iterations=1 if batch > 1 else 10)
