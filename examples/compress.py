"""Three ways to make the MNIST model cheaper, measured side by side: int8 quantization, magnitude
pruning and knowledge distillation. Prints one table: method, size on disk, test accuracy, inference
samples/s. The distillation rows compare a 784-64-10 student trained alone with the same student
distilled from a teacher (the reference MLP trained on shifted images) and from the plain reference.

    python examples/compress.py                 # trains the reference MLP first (10 epochs), ~75 s
    python examples/compress.py --epochs 3 --json
"""
import argparse
import gzip
import json
import os
import sys
import tempfile
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=10, help='epochs for the reference model (default 10)')
    p.add_argument('--finetune-epochs', type=int, default=1, help='epochs of fine-tuning after pruning (default 1)')
    p.add_argument('--student-epochs', type=int, default=30, help='epochs for the small students (default 30)')
    p.add_argument('--temperature', type=float, default=3.0, help='distillation temperature (default 3)')
    p.add_argument('--alpha', type=float, default=0.1, help='weight of the hard-label loss (default 0.1)')
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--data-dir', default=None)
    p.add_argument('--limit', type=int, default=None, help='train on the first N images only')
    p.add_argument('--json', action='store_true', help='print the table as one JSON object on the last line')
    return p.parse_args(argv)


def mlp(numbanet, hidden, seed):
    inputs = numbanet.layers.Input(shape=(784,))
    x = inputs
    for width in hidden:
        x = numbanet.layers.Dense(width, activation='relu')(x)
    model = numbanet.Model(inputs, numbanet.layers.Dense(10, activation='softmax')(x), seed=seed)
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    return model


def measure(numbanet, model, name, x_test, y_test, folder):
    # Size: the weights file alone (no optimizer state, no pruning masks), and gzipped, which is what
    # the zeros of a pruned model are worth on disk.
    from numbanet import compression
    compression.strip_pruning(model)
    path = os.path.join(folder, 'weights.safetensors')
    model.save_weights(path)
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        packed = len(gzip.compress(f.read(), 6))
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    model.predict(x_test[:1000], batch_size=1000, verbose=0)
    start = time.perf_counter()
    rounds = 3
    for _ in range(rounds):
        model.predict(x_test, batch_size=1000, verbose=0)
    rate = rounds * len(x_test) / (time.perf_counter() - start)
    one = x_test[:1]
    latency = min(_timed(lambda: model.predict(one, verbose=0)) for _ in range(300))
    return {'method': name, 'bytes': size, 'gzip_bytes': packed, 'accuracy': round(float(accuracy), 4),
            'samples_per_s': round(rate), 'batch1_us': round(latency * 1e6, 1)}


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)

    import numpy as np

    import numbanet
    from numbanet import compression
    from numbanet.augmentation import random_shift
    try:
        (x_train, y_train), (x_test, y_test) = numbanet.datasets.mnist.load_data(args.data_dir)
    except (numbanet.datasets.DatasetNotFoundError, numbanet.datasets.DataFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_train = x_train.reshape(len(x_train), 784).astype('float32') / 255
    x_test = x_test.reshape(len(x_test), 784).astype('float32') / 255
    y_train, y_test = numbanet.utils.to_categorical(y_train, 10), numbanet.utils.to_categorical(y_test, 10)
    fit = dict(batch_size=args.batch_size, verbose=0)
    rows = []
    folder = tempfile.mkdtemp(prefix='numbanet-compress-')

    base = mlp(numbanet, [256, 128, 64], args.seed)
    base.fit(x_train, y_train, epochs=args.epochs, **fit)
    base_file = os.path.join(folder, 'base.safetensors')
    base.save(base_file)
    rows.append(measure(numbanet, base, 'float32 784-256-128-64-10', x_test, y_test, folder))
    # (inference samples/s: predict at batch 1000 over the test set; batch-1: one image, best of 300)

    dynamic = numbanet.models.load_model(base_file)
    dynamic.quantize('int8')
    rows.append(measure(numbanet, dynamic, 'int8, dynamic activations', x_test, y_test, folder))
    calibrated = numbanet.models.load_model(base_file)
    calibrated.quantize('int8', calibration_data=x_train[:2000])
    rows.append(measure(numbanet, calibrated, 'int8, calibrated on 2,000 images', x_test, y_test, folder))

    for target in (0.5, 0.8, 0.9, 0.95):
        pruned = numbanet.models.load_model(base_file)
        compression.prune(pruned, sparsity=target, scope='global')
        pruned.fit(x_train, y_train, epochs=args.finetune_epochs, **fit)
        reached = compression.sparsity(pruned)
        rows.append(measure(numbanet, pruned, f'pruned {reached:.0%} + {args.finetune_epochs} epoch fine-tune',
                            x_test, y_test, folder))

    # Distillation. The teacher is the reference MLP again, trained on images shifted by up to one pixel
    # each epoch (Hinton et al. trained theirs with jitter too): the plain reference model nearly memorises
    # the training set, so its soft targets there are almost one-hot and carry little it has not already
    # got from the labels; the last row measures that. Both students start from the same seed and see the
    # same unshifted images in the same order; only the loss differs.
    teacher = mlp(numbanet, [256, 128, 64], args.seed)
    rng = np.random.default_rng(args.seed)
    images = x_train.reshape(-1, 28, 28)
    for _ in range(args.epochs):  # fit keeps Adam's state between calls: one epoch per fresh shift
        teacher.fit(random_shift(images, 1, rng).reshape(-1, 784), y_train, epochs=1, **fit)
    rows.append(measure(numbanet, teacher, 'teacher: float32 MLP on +-1 px shifted images', x_test, y_test, folder))

    e = args.student_epochs
    alone = mlp(numbanet, [64], args.seed + 1)
    alone.fit(x_train, y_train, epochs=e, **fit)
    rows.append(measure(numbanet, alone, f'student 784-64-10 alone, {e} epochs', x_test, y_test, folder))
    for source, name in ((teacher, 'the shifted-image teacher'), (base, 'the plain reference')):
        student = mlp(numbanet, [64], args.seed + 1)
        distiller = compression.Distiller(source, student, temperature=args.temperature, alpha=args.alpha)
        distiller.compile(optimizer='adam', metrics=['accuracy'])
        distiller.fit(x_train, y_train, epochs=e, **fit)
        rows.append(measure(numbanet, student, f'student distilled from {name}', x_test, y_test, folder))

    print(f"{'method':<48}{'file KB':>8}{'gzip KB':>8}{'accuracy':>9}{'samples/s':>11}{'batch-1 us':>11}")
    for r in rows:
        print(f"{r['method']:<48}{r['bytes'] / 1024:>8.0f}{r['gzip_bytes'] / 1024:>8.0f}{r['accuracy']:>9.4f}"
              f"{r['samples_per_s']:>11,}{r['batch1_us']:>11.1f}")
    if args.json:
        print(json.dumps({'rows': rows}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
