"""--offload: prune and evaluate models larger than the execution device, one decoder block at a time.

The decoder blocks' weights stay off the execution device: in CPU memory (`cpu`) or on disk (`disk`: memory-mapped
from the checkpoint's safetensors files, and pruned blocks written to the offload folder). Loading is accelerate's
own machinery through transformers (`from_pretrained(device_map=..., offload_folder=...)`): every offloaded module
gets an accelerate `AlignDevicesHook` that moves its weights in for a forward and drops them after, so evaluation and
the engine's stream need nothing else. The embeddings, the final norm and the head stay on the execution device.

The engine holds one block at a time with `onloaded(block)`: the block's weights come in once, its collect, solve
and recompute run on them, and what the method wrote (pruned weights, new biases) goes back to the block's weight
store on exit. Peak memory is then the non-block weights + one block + one block's calibration activations.
"""
from __future__ import annotations

import contextlib
import hashlib
import shutil
import weakref
from pathlib import Path
from typing import Iterator, Optional

import torch
from torch import nn

from .blocks import find_blocks
from .paths import cache_dir

MODES = ("cpu", "disk")


def _offloading_hook(module: nn.Module):
    hook = getattr(module, "_hf_hook", None)
    if hook is None or type(hook).__name__ != "AlignDevicesHook" or hook.weights_map is None:
        return None
    return hook


def is_offloaded(model: nn.Module) -> bool:
    """True if some module of `model` keeps its weights in an accelerate weight store (an --offload model)."""
    return any(_offloading_hook(m) is not None for m in model.modules())


def _own_tensors(module: nn.Module, hook) -> Iterator[tuple[str, torch.Tensor]]:
    recurse = hook.place_submodules
    yield from module.named_parameters(recurse=recurse)
    if hook.offload_buffers:
        yield from module.named_buffers(recurse=recurse)


def stored_tensor(module: nn.Module, name: str) -> torch.Tensor:
    """module.<name> as it is stored: the live tensor, or (outside a forward of an offloaded module) its copy in the
    weight store. For reading only (sparsity counts, checks)."""
    tensor = getattr(module, name)
    hook = _offloading_hook(module)
    if tensor is not None and tensor.device.type == "meta" and hook is not None:
        return hook.weights_map[name]
    return tensor


def _write_back(hook, name: str, tensor: torch.Tensor) -> None:
    """Put `tensor` into the hook's weight store under `name`: CPU memory, or a new .dat file in the offload folder
    (accelerate's own format; the checkpoint file it was read from is never written)."""
    from accelerate.utils import offload_weight

    store = hook.weights_map
    value = tensor.detach().to("cpu")
    if isinstance(store, dict):
        store[name] = value.clone()
        return
    loader, key = store.dataset, store.prefix + name  # PrefixedDataset over an OffloadedWeightsLoader
    if key in loader.state_dict or loader.save_folder is None:
        loader.state_dict[key] = value.clone()
    else:
        offload_weight(value, key, loader.save_folder, index=loader.index)
    if key not in loader.all_keys:
        loader.all_keys.append(key)


@contextlib.contextmanager
def onloaded(block: nn.Module) -> Iterator[nn.Module]:
    """The block with its weights on its execution device for the duration; changes made to them (in place, or new
    parameters such as a compensation bias) are written back to the weight store on exit. A no-op for a block whose
    weights are not offloaded."""
    hooked = [(m, h) for m in block.modules() if (h := _offloading_hook(m)) is not None and h.offload]
    for module, hook in hooked:
        hook.pre_forward(module)  # weights in
        hook.offload = False  # the block's own forwards inside must neither reload nor drop them
    try:
        yield block
    finally:
        for module, hook in hooked:
            for name, tensor in list(_own_tensors(module, hook)):
                if tensor.device.type != "meta":
                    _write_back(hook, name, tensor)
            hook.offload = True
            hook.post_forward(module, None)  # weights out


def check_finite(model: nn.Module) -> None:
    """The non-finite weight check of an offloaded model: reads every stored tensor once (from disk for `disk`)."""
    from .stats import NonFiniteError

    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            value = stored_tensor(module, name)
            if value.numel() and not all(map(torch.isfinite, torch.aminmax(value.float()))):
                raise NonFiniteError(f"the model's weights are not finite: {module_name}.{name} holds NaN or inf "
                                     "values; --allow-nonfinite skips this check")


def device_map(skeleton: nn.Module, execution_device: torch.device, mode: str) -> dict[str, str]:
    """Every decoder block -> `mode` ("cpu" or "disk"); every module outside the blocks -> the execution device."""
    if mode not in MODES:
        raise ValueError(f"--offload must be one of {', '.join(MODES)}; got {mode!r}")
    prefix, blocks = find_blocks(skeleton)
    target = str(execution_device)
    out: dict[str, str] = {}

    def place(module: nn.Module, path: str) -> None:
        for name, child in module.named_children():
            child_path = f"{path}.{name}" if path else name
            if child_path == prefix:
                out.update({f"{prefix}.{i}": mode for i in range(len(blocks))})
            elif prefix.startswith(child_path + "."):
                place(child, child_path)
            else:
                out[child_path] = target
        if not path and not out:
            out[""] = target

    place(skeleton, "")
    for name, _ in skeleton.named_parameters(recurse=False):
        out[name] = target
    return out


def safetensors_checkpoint(path: str, kwargs: dict, dtype: torch.dtype) -> tuple[str, dict]:
    """(directory, from_pretrained kwargs) of a safetensors checkpoint for `path`. Hub ids and safetensors
    directories are used as they are; a GGUF (the embedded models) is de-quantised once into a safetensors copy
    in the cache, which is the one step that holds the whole model in memory."""
    if "gguf_file" not in kwargs:
        return path, kwargs
    source = Path(path) / kwargs["gguf_file"]
    digest = hashlib.sha256(f"{source.resolve()}:{source.stat().st_size}:{dtype}".encode()).hexdigest()[:16]
    out = cache_dir() / "offload_checkpoints" / digest
    if not (out / "config.json").is_file():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from .assets import detach_gguf_quantizer
        from .atomic import atomic_dir

        print(f"--offload: writing a safetensors copy of {source.name} once, to {out} (needs it in memory once)")
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
        detach_gguf_quantizer(model)
        with atomic_dir(out) as tmp:
            model.save_pretrained(tmp)
            AutoTokenizer.from_pretrained(path, **kwargs).save_pretrained(tmp)
        del model
    rest = {k: v for k, v in kwargs.items() if k != "gguf_file"}
    return str(out), rest


def return_freed_memory() -> None:
    """glibc only: serve every allocation >= 128 KiB by mmap, so a block's weights return to the system when they
    go back to the store. glibc's default raises that threshold after the first large free, after which freed
    blocks stay in the heap and the resident size grows by about a block per block (measured: +150 MB over
    SmolLM2's 30 blocks)."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
        except (OSError, AttributeError):
            pass  # not glibc (musl): nothing to tune


def load_offloaded(path: str, kwargs: dict, dtype: torch.dtype, execution_device: torch.device, mode: str,
                   folder: Optional[str]) -> nn.Module:
    """The model with its decoder blocks offloaded (`mode`), everything else on the execution device."""
    import tempfile

    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    path, kwargs = safetensors_checkpoint(path, kwargs, dtype)
    config = AutoConfig.from_pretrained(path, **kwargs)
    with init_empty_weights():
        skeleton = AutoModelForCausalLM.from_config(config)
    placement = device_map(skeleton, execution_device, mode)
    del skeleton
    scratch = mode == "disk" and folder is None
    if scratch:
        folder = tempfile.mkdtemp(prefix="stade-offload-", dir=cache_dir() if cache_dir().is_dir() else None)
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
    return_freed_memory()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, device_map=placement, offload_folder=folder,
                                                 **kwargs)
    if scratch:  # our own scratch copy (hundreds of MB): gone with the model or at exit; a user's folder stays
        weakref.finalize(model, shutil.rmtree, folder, ignore_errors=True)
        model.offload_scratch_folder = folder
    return model


def execution_device(model: nn.Module) -> torch.device:
    """Where an offloaded model computes (the device of its first non-meta parameter)."""
    return next((p.device for p in model.parameters() if p.device.type != "meta"), torch.device("cpu"))
