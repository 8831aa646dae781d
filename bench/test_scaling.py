"""bench/scaling.py on tiny sizes (numbanet and the GEMM limit, each in its own process): the GEMM count, the
arguments it refuses, and a run end to end whose table, JSON and SVG are well formed."""
import json
import sys
import xml.etree.ElementTree as ET

import pytest

import gemm_limit
import scaling
import svg_plot
import workloads

SVG = '{http://www.w3.org/2000/svg}'


def test_the_gemms_of_a_step_and_their_flops():
    shapes = gemm_limit.gemm_shapes(workloads.SIZES, 128)
    # forward and weight gradient for all four layers, input gradient for all but the first
    assert len(shapes) == 4 + 4 + 3
    assert ('X^T @ dY [0]', 784, 128, 256) in shapes and not any(what == 'dY @ W^T [0]' for what, *_ in shapes)
    products = [a * b for a, b in zip(workloads.SIZES[:-1], workloads.SIZES[1:])]
    assert gemm_limit.flops_per_sample(workloads.SIZES) == 2 * (2 * sum(products) + sum(products[1:]))
    gemm_limit.GemmStep((5, 3, 2), 4)()  # odd shapes: the buffers fit the products


def test_the_sweeps_points():
    assert [p['sizes'] for p in scaling.points('width', (8, 16))] == [(784, 8, 8, 8, 10), (784, 16, 16, 16, 10)]
    assert {p['batch'] for p in scaling.points('width')} == {workloads.BATCH}
    [point] = scaling.points('batch', batches=(4,))
    assert (point['x'], point['batch'], point['sizes']) == (4, 4, workloads.SIZES)


@pytest.mark.parametrize('argv, message', [(['--rounds', '0'], 'positive int'), (['--widths', '8,x'], 'positive int'),
                                           (['--seconds', '-1'], 'positive float'),
                                           (['--torch-python', '/no/such/python'], 'executable interpreter'),
                                           (['worker', '--framework', 'gemm'], 'worker needs')])
def test_bad_arguments_are_refused_with_the_value(argv, message, capsys):
    with pytest.raises(SystemExit):
        scaling.main(argv)
    assert message in capsys.readouterr().err


def test_a_slow_blas_environment_is_named_not_changed():
    warning = scaling.blas_warning({'OPENBLAS_CORETYPE': 'Haswell'})
    assert 'OPENBLAS_CORETYPE=Haswell' in warning and 'env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE' in warning
    assert scaling.blas_warning({}) is None


def test_ticks():
    assert svg_plot.linear_ticks(83) == [0, 20, 40, 60, 80, 100]
    assert svg_plot.log_ticks(300, 4000) == [200, 500, 1000, 2000, 5000]
    assert svg_plot.log_ticks(3, 40000) == [1, 10, 100, 1000, 10000, 100000]
    assert [svg_plot.short(v) for v in (0.5, 2000, 2500000)] == ['0.5', '2k', '2.5M']


def test_a_tiny_run_end_to_end(tmp_path, monkeypatch, capsys):
    # numbanet and the GEMM limit only, whatever this interpreter has: the test needs no PyTorch
    monkeypatch.setattr(scaling, 'interpreters', lambda _: {'numbanet': sys.executable, 'gemm': sys.executable})
    out = scaling.main(['--widths', '8', '--batches', '4', '--rounds', '1', '--threads', '1', '--seconds', '0.01',
                        '--steps', '2', '--json', str(tmp_path / 'r.json'), '--svg', str(tmp_path / 'r.svg')])

    saved = json.loads((tmp_path / 'r.json').read_text())
    assert list(saved['sweeps']) == ['width', 'batch'] == list(out['sweeps'])
    for sweep, x in (('width', 8), ('batch', 4)):
        [point] = saved['sweeps'][sweep]
        assert point['x'] == x and list(point['frameworks']) == ['numbanet', 'gemm']
        for f in point['frameworks'].values():
            rate = f['samples_per_second']['median']
            assert rate > 0 and f['gflops']['median'] == pytest.approx(rate * point['flops_per_sample'] / 1e9)
        assert point['numbanet_of_gemm_limit']['median'] > 0

    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith('|')]
    assert len(rows) == 2 * 3  # per sweep: header, alignment, one point
    assert len({line.count('|') for line in rows}) == 1
    assert 'numbanet samples/s' in rows[0] and 'GEMM limit samples/s' in rows[0] and 'numbanet / GEMM limit' in rows[0]

    svg = ET.parse(tmp_path / 'r.svg').getroot()
    assert svg.tag == f'{SVG}svg'
    texts = [t.text for t in svg.iter(f'{SVG}text')]
    assert {'numbanet', 'GEMM limit', 'hidden width h', 'batch size', 'samples/s'} <= set(texts)
    assert len(list(svg.iter(f'{SVG}polyline'))) == 4 * (1 + 2)  # four panels: axes and one line per series
