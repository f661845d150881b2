"""Model presets: names, parameter counts published for each model, and shape invariants."""

from __future__ import annotations

import pytest

from jaxint.models import config as model_config
from jaxint.models import presets

REQUIRED = [
    "Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B", "Qwen3-4B-Instruct-2507",
    "Qwen2.5-Math-1.5B", "Qwen2.5-Math-7B", "Llama-3.2-1B", "Llama-3.2-3B",
    "SmolLM2-135M", "SmolLM2-360M", "SmolLM2-1.7B", "qwen3-tiny",
]


def test_required_presets_exist():
    assert set(REQUIRED) <= set(presets.names())


@pytest.mark.parametrize("name,billions", [
    ("Qwen3-4B", 4.02), ("Qwen3-4B-Instruct-2507", 4.02), ("Qwen3-8B", 8.19),
    ("Qwen3-0.6B", 0.596), ("Qwen3-1.7B", 1.72), ("Qwen2.5-Math-1.5B", 1.54),
    ("Qwen2.5-Math-7B", 7.62), ("Llama-3.2-1B", 1.24), ("Llama-3.2-3B", 3.21),
    ("SmolLM2-135M", 0.1345), ("SmolLM2-360M", 0.362), ("SmolLM2-1.7B", 1.71),
])
def test_parameter_counts(name, billions):
    """Counts from the model cards / safetensors metadata, to three significant digits."""
    assert presets.get(name).num_params() / 1e9 == pytest.approx(billions, rel=5e-3)


def test_names_are_case_insensitive_and_accept_an_org_prefix():
    assert presets.get("qwen3-4b") == presets.get("Qwen3-4B")
    assert presets.get("Qwen/Qwen3-4B") == presets.get("QWEN3-4B")
    assert presets.get("HuggingFaceTB/SmolLM2-135M-Instruct") == presets.get("smollm2-135m")


def test_overrides_and_unknown_names():
    cfg = presets.get("qwen3-tiny", dtype="bfloat16", scan_layers=True)
    assert cfg.dtype == "bfloat16" and cfg.scan_layers
    with pytest.raises(KeyError, match="Qwen3-4B"):  # lists the known names
        presets.get("qwen4-4b")
    with pytest.raises(KeyError, match="not_a_field"):
        presets.get("qwen3-tiny", not_a_field=1)


def test_family_features():
    q3, instruct = presets.get("Qwen3-4B"), presets.get("Qwen3-4B-Instruct-2507")
    assert q3.qk_norm and not q3.attention_bias and q3.tie_embeddings
    assert instruct.rope_theta == 5e6 and instruct.max_position_embeddings == 262144
    assert not presets.get("Qwen3-8B").tie_embeddings
    math = presets.get("Qwen2.5-Math-7B")
    assert math.attention_bias and not math.qk_norm and not math.tie_embeddings
    llama = presets.get("Llama-3.2-1B")
    assert (llama.rope_type, llama.rope_factor, llama.rope_low_freq_factor,
            llama.rope_high_freq_factor, llama.rope_original_max_position,
            llama.rope_theta) == ("llama3", 32.0, 1.0, 4.0, 8192, 500000.0)
    tiny = presets.get("qwen3-tiny")
    assert (tiny.vocab_size, tiny.hidden_size, tiny.intermediate_size, tiny.num_layers,
            tiny.num_heads, tiny.num_kv_heads, tiny.head_dim, tiny.tie_embeddings) == (
        4096, 256, 768, 4, 8, 2, 32, True)


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_is_consistent(name):
    cfg = presets.get(name)
    assert cfg.num_heads % cfg.num_kv_heads == 0
    assert cfg.head_dim % 2 == 0  # rotary halves
    assert cfg.model_type in ("qwen3", "qwen2", "llama")
    # config.json round trip: exportable, and read back to the same architecture.
    assert model_config.from_hf_config(model_config.to_hf_config(cfg)) == cfg
