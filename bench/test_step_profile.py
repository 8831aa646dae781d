"""bench/step_profile.py runs end to end on a few batches and reports what it promises."""
import json

import step_profile


def test_step_profile_reports_epochs_and_kernels(capsys):
    step_profile.main(['--epochs', '2', '--limit', '256', '--threads', '1', '--json'])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['steps'] == 2 and [e['epoch'] for e in result['epochs']] == [1, 2]
    assert all(e['optimizer_us_per_step'] > 0 and set(e['subnormal_state']) == {'m', 'v'} for e in result['epochs'])
    assert {'dense_forward', 'dense_backward', 'adam_update'} <= set(result['kernels'])
    assert all(k['calls_per_step'] > 0 for k in result['kernels'].values())


def test_step_profile_times_each_bound_call_of_any_mlp(capsys):
    step_profile.main(['--epochs', '1', '--limit', '256', '--threads', '1', '--sizes', '784,40,10', '--by-call',
                       '--json'])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    names = set(result['kernels'])
    assert 'dense_backward _transpose 10x40' in names, names
    assert any(n.startswith('dense_forward ') and n.endswith(' 128x40') for n in names), names
