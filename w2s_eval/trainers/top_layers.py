"""LoRA on the top K layers of a frozen model, the layers below run once per input
(``lora_layers: top-K``).

With adapters only on the top K of a model's L layers and the rest frozen, the hidden states that
enter layer L − K are a function of the input tokens alone: they are the same in every epoch, for
the student and the ceiling, and in every run that uses the same model, tokens and precision. So
they are computed once (``LowerPart.states``: the model's forward, stopped after layer L − K − 1,
in eval mode, without gradients, in the run's precision) and cached in memory and on disk
(``HiddenStateCache``, keyed like the probes' embeddings, trainers/bow.py); training and scoring
then run only the top K layers on them, so an epoch costs about K/L of a full pass. This is the
"freeze the bottom, tune the top" economy of partial fine-tuning (Lee et al. 2019, "What Would Elsa
Do? Freezing Layers During Transformer Fine-Tuning", arXiv:1911.03090) applied to LoRA adapters,
with the frozen part's activations cached rather than recomputed.

How the cached states go in: the model's own forward runs as always (embeddings, attention masks,
position ids, rotary embeddings or MPNet's relative position bias are built by the model as it
would), but for that call each lower layer's ``forward`` returns the cached states instead of
computing (``LowerPart.substituted``). So whatever the upper layers need from the model's forward
they get from it, for any architecture whose layers pass only their hidden states to the next one
(BERT, MPNet, Llama, Gemma 3 are tested); module names, parameters and adapters are untouched, and
outside that call (generation, export) the model is the ordinary full model.

What is given up: the frozen lower layers' dropout during training (their output is computed once,
in eval mode), which a full pass through them would apply.

Cached states hold each sequence's own positions only (no padding); a batch pads them with zeros,
on the side its tokens are padded, and the padding positions are masked as the model masks them.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
from peft import PeftModel

from ..config import LORA_LAYERS_EXPECTED, top_layer_count
from ..errors import UserError
from ..models import zoo
from ..precision import autocast
from ..store import KEY_SCHEMA
from .bow import ShardedCache, model_fingerprint


def sequence_key(ids) -> str:
    """What identifies a token sequence in the hidden-state cache: 128 bits of the sha256 of its ids."""
    return hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()[:32]


def layer_stack(model) -> torch.nn.ModuleList:
    """The model's stack of transformer layers: the one ``ModuleList`` that holds
    ``num_hidden_layers`` modules (``bert.encoder.layer``, ``model.layers``, ...)."""
    count = model.config.get_text_config().num_hidden_layers
    stacks = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == count]
    if len(stacks) != 1:
        raise UserError(f"lora_layers: top-K needs the model's {count} layers in one stack; "
                        f"{type(model).__name__} has {len(stacks)} lists of {count} modules (use lora_layers: all)")
    return stacks[0]


def layers_below(total: int, lora_layers: str) -> int:
    """How many of ``total`` layers lie below the top K of ``lora_layers`` (0 for ``all``, and for
    top-L); a K beyond the model's layers is an error."""
    top = top_layer_count(lora_layers)
    if top is None:
        return 0
    if top > total:
        raise UserError(f"lora_layers: top-{top} asks for more layers than the model has ({total}); "
                        f"expected {LORA_LAYERS_EXPECTED} with K from 1 to {total}")
    return total - top


def lower_layer_count(model, lora_layers: str) -> int:
    return layers_below(model.config.get_text_config().num_hidden_layers, lora_layers)


def check_top_k_supported(model_class: type, lora_layers: str, paradigm: str):
    """``top-K`` only for the model classes whose fit and predictions read the cached lower layers
    (``top_layers``: classify and sft)."""
    if top_layer_count(lora_layers) is not None and not getattr(model_class, "top_layers", False):
        raise UserError(f"lora_layers: {lora_layers} is not supported for paradigm {paradigm!r} "
                        f"(classify and sft support it); use lora_layers: all")


def check_layer_count(location: str, lora_layers: str, where: str):
    """Before any training: ``lora_layers`` fits the model at ``location`` (its config alone is read)."""
    if top_layer_count(lora_layers) is None:
        return
    from transformers import AutoConfig

    try:
        layers_below(AutoConfig.from_pretrained(location).get_text_config().num_hidden_layers, lora_layers)
    except UserError as exc:
        raise UserError(f"{where}.{exc}") from None


def lower_linear_names(model, n_lower: int) -> set[str]:
    """The names of the Linear layers inside the lower ``n_lower`` layers: the ones without adapters."""
    stack = layer_stack(model)
    inside = {id(m) for layer in stack[:n_lower] for m in layer.modules()}
    return {name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and id(m) in inside}


def without_adapters(model):
    """The transformers model itself: under peft's wrapper when it has adapters."""
    return model.get_base_model() if isinstance(model, PeftModel) else model


class HiddenStateCache(ShardedCache):
    """Hidden states entering the first adapted layer, per token sequence (``sequence_key``): in
    memory, and on disk under ``<cache_base>/hidden-states/<key>-below<n>/`` when the model has a
    fingerprint. A shard is a safetensors file, one tensor [tokens, width] per key, in the dtype
    the model computed it in (bfloat16 stays bfloat16)."""

    SUFFIX = ".safetensors"
    what = "hidden-state"

    def _read_shard(self, shard: Path) -> dict:
        from safetensors.torch import load_file

        return load_file(shard)

    def _write_shard(self, path: Path, keys: list[str], values):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in zip(keys, values)}, path)


# One cache per setting per process: the student and the ceiling read the same splits through the
# same frozen layers, and a sweep reads them again for every cell.
_CACHES: dict[str, HiddenStateCache] = {}


class _LowerLayersDone(Exception):
    """Raised by the hook on the last lower layer: nothing above it is needed to fill the cache."""


class LowerPart:
    """The frozen layers below the adapted ones, their cached output, and the substitution of that
    output for their computation (module docstring).

    ``model``: the model with its adapters (a peft model or not); ``location``: where its weights
    are (the cache's fingerprint); ``n_lower``: how many layers are below the adapted ones;
    ``precision``: resolved, what the cached states are computed in; ``quant``: the base weights'.
    """

    def __init__(self, model, location: str, n_lower: int, precision: str, quant: str):
        self.model, self.n_lower, self.precision = model, n_lower, precision
        base = without_adapters(model)
        self.layers = layer_stack(base)[:n_lower]
        self.returns_tuple: bool | None = None  # MPNet's layers return (states, ...), others a tensor
        self.sequences_computed = 0  # sequences run through the lower layers by this object
        self.cache = self._cache(location, base, quant)

    def _cache(self, location: str, base, quant: str) -> HiddenStateCache:
        """The cache of these layers and settings. Its key holds all the states depend on besides the
        tokens: the weights, the number of layers run, their dtype and quantisation, the precision
        (autocast) and the transformers version (whose model code computes them)."""
        import transformers

        fingerprint = model_fingerprint(location, base)
        settings = {"model": fingerprint or f"unidentified:{location}", "layers_below": self.n_lower,
                    "dtype": str(base.dtype), "quant": quant, "precision": self.precision,
                    "transformers": transformers.__version__, "key_schema": KEY_SCHEMA}
        identity = json.dumps(settings, sort_keys=True)
        if identity not in _CACHES:
            digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
            folder = zoo.cache_base() / "hidden-states" / f"{digest}-below{self.n_lower}" if fingerprint else None
            _CACHES[identity] = HiddenStateCache(folder)
        return _CACHES[identity]

    def states(self, sequences: list[list[int]]) -> list[torch.Tensor]:
        """The hidden states entering the first adapted layer, [tokens, width] per sequence of token
        ids; each sequence is run through the lower layers once per setting, across runs and processes."""
        keys = [sequence_key(ids) for ids in sequences]
        missing = set(self.cache.missing(keys))
        if missing:
            todo = list({k: ids for k, ids in zip(keys, sequences) if k in missing}.items())
            self.cache.add([k for k, _ in todo], self._compute([ids for _, ids in todo]))
            self.sequences_computed += len(todo)
        return [self.cache.values[k] for k in keys]

    def batch_states(self, sequences: list[list[int]], width: int, padding_side: str) -> torch.Tensor:
        """``states`` of a batch, [sequences, width, hidden], each padded with zeros to ``width``
        positions on the side the batch's tokens are padded."""
        states = self.states(sequences)
        out = torch.zeros((len(states), width, states[0].shape[-1]), dtype=states[0].dtype)
        for row, s in enumerate(states):
            if padding_side == "left":
                out[row, width - len(s):] = s
            else:
                out[row, :len(s)] = s
        return out

    def _compute(self, sequences: list[list[int]], batch_size: int = 32) -> list[torch.Tensor]:
        """Run ``sequences`` (right-padded, in length-sorted batches) through the model up to the
        last lower layer and keep that layer's output at each sequence's own positions."""
        from .common import length_sorted_batches

        captured = {}

        def stop(module, args, output):
            self.returns_tuple = isinstance(output, tuple)
            captured["states"] = output[0] if self.returns_tuple else output
            raise _LowerLayersDone

        out: list[torch.Tensor | None] = [None] * len(sequences)
        device = next(self.model.parameters()).device
        was_training, handle = self.model.training, self.layers[-1].register_forward_hook(stop)
        self.model.eval()  # the states of the frozen part are its eval-mode output: no dropout
        try:
            # Not inference mode even when scoring: the cached states are inputs to adapters trained later.
            with torch.inference_mode(False), torch.no_grad(), autocast(self.precision):
                for index in length_sorted_batches([len(s) for s in sequences], batch_size):
                    width = max(len(sequences[i]) for i in index)
                    ids = torch.zeros((len(index), width), dtype=torch.long)
                    mask = torch.zeros_like(ids)
                    for row, i in enumerate(index):
                        ids[row, :len(sequences[i])], mask[row, :len(sequences[i])] = torch.tensor(sequences[i]), 1
                    try:
                        self.model(input_ids=ids.to(device), attention_mask=mask.to(device))
                    except _LowerLayersDone:
                        pass
                    states = captured.pop("states").cpu()
                    for row, i in enumerate(index):
                        out[i] = states[row, :len(sequences[i])].clone()
        finally:
            handle.remove()
            self.model.train(was_training)
        return out

    @contextmanager
    def substituted(self, states: torch.Tensor):
        """Within: each lower layer returns ``states`` (a batch from ``batch_states``) instead of
        computing, so the model's forward runs only the layers above them. Patching ``forward`` on
        the layer objects (not replacing the modules) leaves module names, parameters, hooks and the
        model's own forward as they are."""
        if self.returns_tuple is None:  # learn the layers' output form from one token's pass
            self._compute([[0]])
        output = (states,) if self.returns_tuple else states
        for layer in self.layers:
            layer.forward = lambda *args, **kwargs: output
        try:
            yield
        finally:
            for layer in self.layers:
                del layer.forward  # back to the class's forward


def cached_lower_layers(lower_part: LowerPart | None, states: torch.Tensor | None):
    """``lower_part.substituted(states)``, or nothing when the model has no cached lower part."""
    return nullcontext() if lower_part is None or states is None else lower_part.substituted(states)


def build_lower_part(model, location: str, lora_layers: str, precision: str, quant: str) -> LowerPart | None:
    """The cached lower part for ``lora_layers`` (None for ``all`` or top-L: nothing below the adapters)."""
    n_lower = lower_layer_count(model, lora_layers)
    return LowerPart(model, location, n_lower, precision, quant) if n_lower else None
