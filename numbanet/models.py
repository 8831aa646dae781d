"""Keras's numbanet.models namespace: the model classes, and rebuilding models from configs and files.

This module sits above Model, Sequential and saving; Model.from_config (model.py) knows the built-in classes
by name. Layers of your own come back when you name them: load_model(path, custom_objects={'MyLayer': MyLayer}).
"""
import json

from numbanet import losses, metrics, optimizers
from numbanet.graph import ConfigError
from numbanet.optimizers import schedules
from numbanet.model import Model, custom_classes, deserialize
from numbanet.saving import SavedFileError, SavedModel
from numbanet.sequential import Sequential


def model_from_config(config, custom_objects=None, device='cpu', check_weights=None):
    """A new model from model.get_config(), freshly initialised (load_model then sets the weights).
    check_weights(weights) sees the weights the architecture declares before any is allocated."""
    if not isinstance(config, dict):
        raise ConfigError(f"a model config is a dict, got {type(config).__name__}")
    cls = Sequential if config.get('class') == 'Sequential' else Model
    return cls.from_config(config, custom_objects, device, check_weights)


def model_from_json(json_string, custom_objects=None, device='cpu'):
    """A new model, freshly initialised, from model.to_json() (weights are not part of it, as in Keras)."""
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model_from_json takes the string model.to_json() returned: {e}") from None
    return model_from_config(config, custom_objects, device)


def compile_from_config(model, config, custom_objects=None):
    """model.compile(...) with what model.get_compile_config() returned."""
    if config is None:
        return
    try:
        entry = config['optimizer']
        settings = entry.get('config') if isinstance(entry, dict) else None  # deserialize names what is wrong
        rate = settings.get('learning_rate') if isinstance(settings, dict) else None
        if isinstance(rate, dict):  # a schedule, perhaps a class of the user's: rebuilt here, where they are known
            rate = deserialize('learning-rate schedule', {**schedules.CLASSES, **custom_classes(
                custom_objects, schedules.LearningRateSchedule)}, rate)
            entry = {**entry, 'config': {**entry['config'], 'learning_rate': rate}}
        optimizer = deserialize('optimizer', {**optimizers.CLASSES,
                                              **custom_classes(custom_objects, optimizers.Optimizer)}, entry)
        loss_classes = {**losses.CLASSES, **custom_classes(custom_objects, losses.Loss)}
        # A model with several outputs has a list of losses and a list of metrics per output.
        loss = [deserialize('loss', loss_classes, e) for e in config['loss']] if isinstance(config['loss'], list) \
            else deserialize('loss', loss_classes, config['loss'])
        metric_classes = {**metrics.CLASSES, **custom_classes(custom_objects, metrics.Metric)}
        metric = lambda m: m if isinstance(m, str) else deserialize('metric', metric_classes, m)
        ids = lambda ms: [[metric(e) for e in m] if isinstance(m, list) else metric(m) for m in ms]
        model.compile(optimizer=optimizer, loss=loss, metrics=ids(config['metrics']),
                      loss_weights=config.get('loss_weights'), weighted_metrics=ids(config.get('weighted_metrics', [])))
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


__all__ = ['ConfigError', 'Model', 'SavedFileError', 'Sequential', 'load_model', 'model_from_config', 'model_from_json']
