"""bench/inference.py runs: one short round, every contender, outputs checked against onnxruntime's."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import inference  # noqa: E402


def test_a_short_run_reports_every_contender_against_onnxruntime(capsys):
    out = inference.main(['--rounds', '2', '--calls', '3', '--json'])
    assert json.loads(capsys.readouterr().out) == out
    assert list(out['results']) == ['onnxruntime session.run', 'model(x)', 'predict_on_batch(x)',
                                    'predict(x, verbose=0)']
    assert out['results']['onnxruntime session.run']['ratio_median'] == 1.0
    assert all(r['median_us'] > 0 for r in out['results'].values())
