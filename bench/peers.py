"""What the whole-model comparisons in bench/ (compare.py, convnet.py) share: each framework timed in a fresh
interpreter of its own, one process per framework and round, the rounds interleaved, and the spread reported.

Why one process each: a peer inside our process inherits our thread settings (libgomp's spin count once
slowed PyTorch 1.5x there), and the other way round. So a child reports which frameworks it has imported,
and run_child refuses a timing from a child that imported another framework than its own. Interleaving
lets the noise of a shared machine hit every framework alike; ratios are taken within a round for the same
reason. This module imports no framework itself, so the parent that drives the children holds none.
"""
import contextlib
import json
import os
import statistics
import subprocess
import sys

# The modules that make a framework; a child that has one of another framework's is not a fair timing.
# numba belongs to numbanet: its thread pool and libgomp settings are what must not leak into a peer.
MODULES = {'numbanet': ('numbanet', 'numba'), 'numpy': (), 'pytorch': ('torch',), 'jax': ('jax', 'jaxlib')}


def loaded_frameworks():
    """(in a child) every framework module this interpreter has imported, to put in its report."""
    return sorted(m for mods in MODULES.values() for m in mods if m in sys.modules)


def foreign_modules(framework, modules):
    own = set(MODULES[framework])
    return sorted(m for m in modules if m not in own)


def python_with(module, requested=None):
    """The interpreter to run a framework in: the one asked for, else this one when it can import module."""
    if requested:
        return requested
    probe = subprocess.run([sys.executable, '-c', f'import {module}'], capture_output=True)
    return sys.executable if probe.returncode == 0 else None


def run_child(python, argv, framework, env=None):
    """Run `python argv...`, which prints one JSON report as its last line, and return that report.

    The report must name `framework` and list its loaded frameworks under 'modules'; a child that imported
    another framework's modules is refused (RuntimeError), never timed."""
    child_env = dict(os.environ, **(env or {}))
    proc = subprocess.run([python, *argv], capture_output=True, text=True, env=child_env)
    if proc.returncode:
        raise RuntimeError(f"the {framework} child ({python}) failed:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if report.get('framework') != framework or 'modules' not in report:
        raise RuntimeError(f"the {framework} child gave a report without its framework and modules: {report}")
    alien = foreign_modules(framework, report['modules'])
    if alien:
        raise RuntimeError(f"refusing the {framework} timing: its process also imported {', '.join(alien)}")
    return report


def interleaved(runs, rounds):
    """Call each of runs (name -> function) once per round, in turn; return name -> list of results."""
    results = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            results[name].append(run())
    return results


def spread(values):
    return {'median': statistics.median(values), 'min': min(values), 'max': max(values)}


def per_round_ratios(numerators, denominators):
    """The spread of a/b taken round by round, so that a slow round slows both sides of its ratio."""
    return spread([a / b for a, b in zip(numerators, denominators)])


def limit_cpus(n):
    """(in a child, before its framework loads) run on n of the cores, for a framework with no thread
    setting of its own (XLA sizes its pool from the cores it may use)."""
    cpus = sorted(os.sched_getaffinity(0))
    if n and n < len(cpus):
        os.sched_setaffinity(0, cpus[:n])


@contextlib.contextmanager
def busy(n):
    """n busy-looping interpreters for the length of the block: a neighbour that takes whole cores.
    Fresh interpreters, not forks of this process, so that they hold none of its thread pools."""
    procs = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
