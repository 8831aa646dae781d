"""Transfer learning, Keras's classic demonstration on MNIST: train a model on digits 0-4, freeze its
feature layers, train a new head on digits 5-9, and compare with the same model trained from scratch.

The model is the reference MLP (784-256-128-64-5). Its first two layers are the features: they are frozen
and reused; the head (Dense 64 ReLU + Dense 5 softmax) is new and trained on 5-9 alone.

    python examples/transfer.py                      # base 3 epochs, then 1 epoch each way
    python examples/transfer.py --epochs 2 --json
"""
import argparse
import json
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--base-epochs', type=int, default=3, help='epochs on digits 0-4 (default 3)')
    p.add_argument('--epochs', type=int, default=1, help='epochs on digits 5-9, each way (default 1)')
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--data-dir', default=None, help='a folder with the IDX files or mnist.npz, or a data file')
    p.add_argument('--limit', type=int, default=None, help='use the first N training images only')
    p.add_argument('--json', action='store_true', help='print the results as one JSON object on the last line')
    return p.parse_args(argv)


def split(numbanet, x, y, digits):
    keep = (y >= digits[0]) & (y <= digits[-1])
    images = x[keep].reshape(int(keep.sum()), 784).astype('float32') / 255.0
    return images, numbanet.utils.to_categorical(y[keep] - digits[0], len(digits))


def features(numbanet):
    return [numbanet.layers.Dense(256, activation='relu', name='feature_1'),
            numbanet.layers.Dense(128, activation='relu', name='feature_2')]


def classifier(numbanet, feature_layers, head, seed):
    inputs = numbanet.layers.Input(shape=(784,))
    x = inputs
    for layer in feature_layers:
        x = layer(x)
    x = numbanet.layers.Dense(64, activation='relu', name=f'{head}_hidden')(x)
    outputs = numbanet.layers.Dense(5, activation='softmax', name=f'{head}_out')(x)
    model = numbanet.Model(inputs, outputs, seed=seed)
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    return model


def train(model, train_data, test_data, epochs, batch_size):
    trainable = sum(w.size for w in model.trainable_weights)
    start = time.perf_counter()
    model.fit(*train_data, batch_size=batch_size, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(*test_data, batch_size=1024, verbose=0)
    return trainable, seconds, accuracy


def main(argv=None):
    args = parse_args(argv)
    import numbanet
    try:
        (x_train, y_train), (x_test, y_test) = numbanet.datasets.mnist.load_data(args.data_dir)
    except (numbanet.datasets.DatasetNotFoundError, numbanet.datasets.DataFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    low = split(numbanet, x_train, y_train, range(0, 5)), split(numbanet, x_test, y_test, range(0, 5))
    high = split(numbanet, x_train, y_train, range(5, 10)), split(numbanet, x_test, y_test, range(5, 10))

    shared = features(numbanet)
    base = classifier(numbanet, shared, 'head_0_4', args.seed)
    rows = [('base model, digits 0-4', args.base_epochs, *train(base, *low, args.base_epochs, args.batch_size))]

    for layer in shared:
        layer.trainable = False  # the features learnt on 0-4 stay as they are
    transfer = classifier(numbanet, shared, 'head_5_9', args.seed + 1)
    rows.append(('frozen features + new head, 5-9', args.epochs, *train(transfer, *high, args.epochs,
                                                                        args.batch_size)))
    scratch = classifier(numbanet, features(numbanet), 'head_5_9', args.seed + 1)
    rows.append(('same model from scratch, 5-9', args.epochs, *train(scratch, *high, args.epochs,
                                                                     args.batch_size)))
    print(f"{'':<34}{'epochs':>7}{'trainable params':>18}{'train s':>9}{'test accuracy':>15}")
    for name, epochs, trainable, seconds, accuracy in rows:
        print(f"{name:<34}{epochs:>7}{trainable:>18,}{seconds:>9.2f}{accuracy:>15.4f}")
    if args.json:
        keys = ('base', 'transfer', 'scratch')
        print(json.dumps({f'{key}_{field}': round(row[i], 4) for key, row in zip(keys, rows)
                          for field, i in (('trainable', 2), ('seconds', 3), ('accuracy', 4))}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
