"""Keras's numbanet.models namespace: the model classes, and rebuilding models from configs and files.

This module sits above Model, Sequential and saving: it knows every built-in layer, optimizer, loss and
metric class by name, so a saved config turns back into objects here and nowhere else. Layers of your own
come back when you name them: load_model(path, custom_objects={'MyLayer': MyLayer}).
"""
from numbanet import layers, losses, metrics, optimizers
from numbanet.model import Model
from numbanet.quantization import INT8_LAYERS, Int8Dense
from numbanet.saving import SavedFileError, SavedModel
from numbanet.sequential import Sequential

LAYERS = {name: getattr(layers, name) for name in layers.__all__ if name not in ('Input', 'Layer')}
LAYERS.update({cls.__name__: cls for cls in INT8_LAYERS})


class ConfigError(ValueError):
    """A config (a saved architecture or compile settings) numbanet cannot rebuild."""


def _object(kind, registry, entry):
    if not isinstance(entry, dict) or entry.get('class') not in registry or not isinstance(entry.get('config'), dict):
        hint = " (pass your own classes with custom_objects={'Name': Class}" + (
            "; load_model(..., compile=False) skips the compile settings)" if kind != 'layer' else ")")
        raise ConfigError(f"unknown {kind} in the saved model: {entry!r}{hint}")
    cls = registry[entry['class']]
    config = dict(entry['config'])
    if cls is layers.Dense and config.pop('quantized', None) == 'int8':
        # How files written before Int8Dense existed describe an int8 layer; its weights come from the file.
        cls = Int8Dense
        config.pop('kernel_initializer', None)
        config.pop('bias_initializer', None)
    try:
        return cls.from_config(config) if hasattr(cls, 'from_config') else cls(**config)
    except Exception as e:  # a class of the user's may raise anything: name the entry
        raise ConfigError(f"cannot rebuild {kind} {entry['class']}: {type(e).__name__}: {e}") from None


def model_from_config(config, custom_objects=None, device='cpu', check_weights=None):
    """A new model from model.get_config(), freshly initialised (load_model then sets the weights).
    check_weights(weights) sees the weights the architecture declares before any is allocated."""
    registry = {**LAYERS, **_custom(custom_objects, layers.Layer)}
    try:
        layer_objs = [_object('layer', registry, entry) for entry in config['layers']]
        nodes, inputs, output = config['nodes'], config['inputs'], config['output']
        name, seed = config.get('name'), config.get('seed')
        tensors = []
        for i, node in enumerate(nodes):
            layer = layer_objs[node['layer']]
            if isinstance(layer, layers.InputLayer):
                if node['inputs']:
                    raise ConfigError(f"input layer '{layer.name}' cannot have inputs")
                tensors.append(layer.output)
                continue
            if not isinstance(node['inputs'], list) or any(type(j) is not int or not 0 <= j < i
                                                             for j in node['inputs']):
                raise ConfigError(f"node {i} ({layer.name}) reads tensors {node['inputs']} that come later or "
                                  f"do not exist")
            ins = [tensors[j] for j in node['inputs']]
            tensors.append(layer(ins[0] if layer.single_input else ins))
        if any(type(j) is not int or not 0 <= j < len(tensors) for j in list(inputs) + [output]):
            raise ConfigError(f"the model's inputs {inputs!r} or output {output!r} name no tensor")
        if check_weights is not None:  # calling the layers above made their weights' shapes, not their values
            check_weights([w for layer in layer_objs for w in layer.weights_list])
        if config.get('class') == 'Sequential':
            return Sequential([layer_objs[node['layer']] for node in nodes], name=name, seed=seed, device=device)
        return Model([tensors[i] for i in inputs], tensors[output], name=name, seed=seed, device=device)
    except (ConfigError, SavedFileError):
        raise
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise ConfigError(f"the saved architecture does not describe a model numbanet can build: "
                          f"{type(e).__name__}: {e}") from None


def _custom(custom_objects, base):
    """The classes of custom_objects that are subclasses of base, by name."""
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects must be a dict of name -> class, got {type(custom_objects).__name__}")
    kinds = (layers.Layer, losses.Loss, optimizers.Optimizer, metrics.Metric)
    for name, cls in custom_objects.items():
        if not (isinstance(cls, type) and issubclass(cls, kinds)):
            raise TypeError(f"custom_objects['{name}'] must be a numbanet Layer, Loss, Optimizer or Metric "
                            f"subclass, got {cls!r}")
    return {name: cls for name, cls in custom_objects.items() if issubclass(cls, base)}


def compile_from_config(model, config, custom_objects=None):
    """model.compile(...) with what model.get_compile_config() returned."""
    if config is None:
        return
    try:
        optimizer = _object('optimizer', {**optimizers.CLASSES, **_custom(custom_objects, optimizers.Optimizer)},
                            config['optimizer'])
        loss = _object('loss', {**losses.CLASSES, **_custom(custom_objects, losses.Loss)}, config['loss'])
        metric_classes = {**metrics.CLASSES, **_custom(custom_objects, metrics.Metric)}
        metric_ids = [m if isinstance(m, str) else _object('metric', metric_classes, m) for m in config['metrics']]
        model.compile(optimizer=optimizer, loss=loss, metrics=metric_ids)
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"the saved compile settings cannot be restored: {type(e).__name__}: {e}") from None


def load_model(path, compile=True, device='cpu', custom_objects=None):
    """Rebuild a model saved by model.save(): architecture, weights, and (compile=True) its compile settings
    and optimizer state, so training continues where it stopped."""
    saved = SavedModel(path)
    try:
        model = model_from_config(saved.config, custom_objects, device, saved.check_weights)
    except ConfigError as e:
        raise SavedFileError(f"{saved.path}: {e}") from None
    saved.restore_weights(model)
    if compile and saved.compile_config is not None:
        try:
            compile_from_config(model, saved.compile_config, custom_objects)
        except ConfigError as e:
            raise SavedFileError(f"{saved.path}: {e}") from None
        if saved.optimizer_state:
            model.optimizer.build(model.parameters, [(0, model.parameters.values.shape[0])])
            model.optimizer.load_state(saved.optimizer_state, saved.iterations)
    return model


__all__ = ['Model', 'Sequential', 'load_model', 'model_from_config', 'SavedFileError']
