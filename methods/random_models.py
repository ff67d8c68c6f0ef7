"""Tiny randomly initialised decoders of every family the engine is tested on (hidden 64, 2 blocks, byte
vocabulary): `random:<family>` at the tiny scale and in the tests. Deterministic under the seed.

Llama-style families use grouped KV heads (2 KV heads of 4) where the config allows it; OPT-style gets small random
biases (a fresh OPT has zero biases and would not exercise the bias paths); Mistral and Gemma get a sliding window
shorter than the tests' sequences, so per-block masks really differ.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

VOCAB = 260  # the byte tokenizer's 257 ids, rounded up
_LLAMA_LIKE = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=False)


def _config(family: str, layers: int) -> Any:
    import transformers as tf

    common = dict(_LLAMA_LIKE, num_hidden_layers=layers)
    builders: dict[str, Callable[[], Any]] = {
        "llama": lambda: tf.LlamaConfig(**common),
        "mistral": lambda: tf.MistralConfig(**common, sliding_window=8),
        "qwen2": lambda: tf.Qwen2Config(**common),
        "qwen3": lambda: tf.Qwen3Config(**common, head_dim=16),
        "gemma2": lambda: tf.Gemma2Config(**common, head_dim=16, sliding_window=8),
        "gemma3": lambda: tf.Gemma3TextConfig(**dict(common, num_hidden_layers=max(layers, 3)), head_dim=16,
                                              sliding_window=8, layer_types=None, sliding_window_pattern=2),
        "phi3": lambda: tf.Phi3Config(**common, pad_token_id=0),
        "olmo2": lambda: tf.Olmo2Config(**common),
        "granite": lambda: tf.GraniteConfig(**common),
        "gpt_neox": lambda: tf.GPTNeoXConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128,
                                             num_attention_heads=4, num_hidden_layers=layers,
                                             max_position_embeddings=1024),
        "falcon": lambda: tf.FalconConfig(vocab_size=VOCAB, hidden_size=64, num_attention_heads=4,
                                          num_hidden_layers=layers, new_decoder_architecture=True, num_kv_heads=2,
                                          bias=False, alibi=False),
        "opt": lambda: tf.OPTConfig(vocab_size=VOCAB, hidden_size=64, ffn_dim=128, num_hidden_layers=layers,
                                    num_attention_heads=4, max_position_embeddings=256, word_embed_proj_dim=64,
                                    do_layer_norm_before=True),
    }
    if family not in builders:
        raise ValueError(f"random:{family}: unknown family; choose one of {', '.join(RANDOM_FAMILIES)}")
    return builders[family]()


RANDOM_FAMILIES = ("llama", "opt", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "olmo2", "granite",
                   "gpt_neox", "falcon")


def random_model(family: str, seed: int = 0, layers: int = 2) -> nn.Module:
    """A tiny random decoder of `family` (see RANDOM_FAMILIES), in eval mode, deterministic under `seed`."""
    from transformers import AutoModelForCausalLM

    config = _config(family, layers)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).eval()
    if family == "opt":
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Linear) and m.bias is not None:
                    m.bias.normal_(0, 0.02)
    return model
