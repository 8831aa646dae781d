"""The fair-comparison harness (bench/peers.py, bench/compare.py): a child that imported another framework
is refused, ratios are taken round by round, the parent holds no framework, and a short run goes end to end."""
import json
import os
import subprocess
import sys

import pytest

import compare
import peers

BENCH = os.path.dirname(os.path.abspath(__file__))


def fake_child(report):
    return ['-c', f'print("noise"); print({json.dumps(json.dumps(report))})']


def test_spread_and_per_round_ratios():
    assert peers.spread([3.0, 1.0, 2.0]) == {'median': 2.0, 'min': 1.0, 'max': 3.0}
    # round 2 is slow for both sides: its ratio is still 2, where a ratio of medians would mix rounds
    assert peers.per_round_ratios([2.0, 20.0, 4.0], [1.0, 10.0, 2.0]) == {'median': 2.0, 'min': 2.0, 'max': 2.0}


def test_run_child_returns_the_last_line_of_a_clean_child():
    report = {'framework': 'pytorch', 'seconds': 1.5, 'modules': ['torch']}
    assert peers.run_child(sys.executable, fake_child(report), 'pytorch') == report


@pytest.mark.parametrize('framework, modules', [('pytorch', ['numba', 'numbanet', 'torch']), ('jax', ['numbanet']),
                                                ('numpy', ['numba']), ('numbanet', ['numbanet', 'torch'])])
def test_run_child_refuses_a_child_that_imported_another_framework(framework, modules):
    report = {'framework': framework, 'seconds': 1.0, 'modules': modules}
    with pytest.raises(RuntimeError, match=f'refusing the {framework} timing'):
        peers.run_child(sys.executable, fake_child(report), framework)


def test_run_child_refuses_a_report_that_does_not_say_what_it_loaded():
    with pytest.raises(RuntimeError, match='without its framework and modules'):
        peers.run_child(sys.executable, fake_child({'framework': 'numpy', 'seconds': 1.0}), 'numpy')


def test_the_parent_imports_no_framework():
    code = (f"import sys; sys.path.insert(0, {BENCH!r}); import compare, cold_start, peers, scaling; "
            "print(sorted(set(sys.modules) & {'numbanet', 'numba', 'torch', 'jax'}))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]'


def test_a_short_comparison_runs_each_framework_in_its_own_process(capsys):
    out = compare.main(['--rounds', '1', '--limit', '256', '--threads', '1', '--only', 'numpy'])
    assert list(out['idle']) == ['numbanet', 'numpy']
    assert out['samples'] == 256 and all(len(ts) == 1 and ts[0] > 0 for ts in out['seconds'].values())
    assert out['idle']['numbanet']['time_vs_numbanet'] == {'median': 1.0, 'min': 1.0, 'max': 1.0}
    assert 'numpy' in capsys.readouterr().out
