"""Test-wide setup: 8 fake CPU devices, float32 matmuls, a persistent compile cache.

XLA reads its flags once, when the backend starts, so they must be set before anything
imports jax; pytest imports this file first.
"""

import os
import pathlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
    os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

_CACHE = pathlib.Path(
    os.environ.get("JAXINT_TEST_CACHE", pathlib.Path.home() / ".cache" / "jaxint-tests")
)
(_CACHE / "xla").mkdir(parents=True, exist_ok=True)
jax.config.update("jax_compilation_cache_dir", str(_CACHE / "xla"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_default_matmul_precision", "highest")


# ----------------------------------------------------------------------------- model fixtures
# torch and transformers are imported inside the fixtures so that collecting tests which do
# not need them stays fast.


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory):
    """{family: TinyCheckpoint} for the tiny random HF Qwen3, Qwen2 and Llama models."""
    from tests.fixtures import tiny_hf as tiny_hf_lib

    root = tmp_path_factory.mktemp("tiny_hf")
    return {f: tiny_hf_lib.save(f, root / f) for f in tiny_hf_lib.FAMILIES}


@pytest.fixture(scope="session")
def tiny_hf_shardable(tmp_path_factory):
    """A tiny HF Qwen3 whose dimensions the 8-device test meshes divide."""
    from tests.fixtures import tiny_hf as tiny_hf_lib

    return tiny_hf_lib.save("qwen3_shardable", tmp_path_factory.mktemp("tiny_hf_shardable"))


@pytest.fixture(scope="session")
def smollm2_dir():
    """The cached HF directory of SmolLM2-135M-Instruct (skips with the reason if unavailable)."""
    from tests.fixtures import smollm2

    return smollm2.ensure_checkpoint(_CACHE)
