"""launch/tpu_vm.sh and launch/multihost.sh in --dry-run mode print the right commands.

A fake `gcloud` first on PATH records any call and fails, so a dry run that ran gcloud (or
a real run that would) is caught. shellcheck runs when it is installed.
"""

from __future__ import annotations

import os
import pathlib
import shlex
import shutil
import subprocess
import sys

import pytest

LAUNCH = pathlib.Path(__file__).resolve().parents[2] / "launch"
TPU_VM = LAUNCH / "tpu_vm.sh"
MULTIHOST = LAUNCH / "multihost.sh"


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gcloud"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'gcloud_calls'}\nexit 97\n")
    fake.chmod(0o755)
    keep = {k: v for k, v in os.environ.items()
            if k not in ("PROJECT", "ZONE", "NAME", "TYPE", "VERSION", "SPOT", "GIT_URL",
                         "WORKER_IPS", "SSH_ARGS", "JAXINT_CMD")}
    return {**keep, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG_DIR": str(tmp_path / "logs"),
            "GCLOUD_CALLS": str(tmp_path / "gcloud_calls")}


def _run(script: pathlib.Path, args: list[str], env: dict[str, str], ok: bool = True) -> str:
    proc = subprocess.run(["bash", str(script), *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=env.get("CWD"))
    if ok:
        assert proc.returncode == 0, proc.stderr
        assert not pathlib.Path(env["GCLOUD_CALLS"]).exists(), "a dry run called gcloud"
    return proc.stdout + proc.stderr if not ok else proc.stdout


def _lines(out: str, prefix: str) -> list[list[str]]:
    """The printed commands that start with `prefix`, split the way a shell would (a quoted
    argument may span lines: the setup script)."""
    cmds, buf = [], ""
    for line in out.splitlines():
        buf = f"{buf}\n{line}" if buf else line
        try:
            words = shlex.split(buf)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        if buf.startswith(prefix):
            cmds.append(words)
        buf = ""
    return cmds


def test_create_uses_the_runtime_image_of_the_type(env):
    env.update(PROJECT="proj", ZONE="us-east5-a", NAME="t1")
    cases = {"v5p-8": "v2-alpha-tpuv5", "v4-8": "tpu-ubuntu2204-base",
             "v5e-16": "v2-alpha-tpuv5-lite", "v6e-8": "v2-alpha-tpuv6e"}
    for tpu_type, image in cases.items():
        (cmd,) = _lines(_run(TPU_VM, ["--dry-run", "--type", tpu_type, "create"], env), "gcloud")
        assert cmd[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "create"]
        assert cmd[5] == "t1" and f"--version={image}" in cmd
        assert "--zone=us-east5-a" in cmd and "--project=proj" in cmd
    (cmd,) = _lines(_run(TPU_VM, ["--dry-run", "--type", "v5e-16", "--spot", "create"], env),
                    "gcloud")
    assert "--accelerator-type=v5litepod-16" in cmd and "--spot" in cmd


def test_setup_copies_the_checkout_and_installs_on_all_workers(env):
    env.update(ZONE="z", NAME="t1")
    out = _run(TPU_VM, ["--dry-run", "setup"], env)
    assert "ls-files" in out and "tar -C" in out
    scp, ssh = _lines(out, "gcloud")
    assert scp[4] == "scp" and "--worker=all" in scp and scp[-3].startswith("t1:")
    assert ssh[4] == "ssh" and "--worker=all" in ssh
    script = next(a for a in ssh if a.startswith("--command="))
    assert "uv venv" in script and "-e '.[tpu]'" in script and "set -euo pipefail" in script


def test_run_starts_every_worker_with_its_process_id(env):
    env.update(ZONE="z", NAME="pod", WORKER_IPS="10.0.0.2,10.0.0.3")
    out = _run(TPU_VM, ["--dry-run", "run", "configs/demo.yaml", "rl.steps=3", "name=it's"], env)
    cmds = [c for c in _lines(out, "gcloud") if c[4] == "ssh"]
    assert len(cmds) == 2
    for i, cmd in enumerate(cmds):
        assert f"--worker={i}" in cmd
        assert cmd[cmd.index(">") + 1].endswith(f"/worker-{i}.log")
        remote = shlex.split(next(a for a in cmd if a.startswith("--command="))[10:])
        assert remote[:3] == ["cd", "~/jaxint", "&&"]
        assert remote[3:6] == ["JAXINT_COORDINATOR=10.0.0.2:8476", "JAXINT_NUM_PROCESSES=2",
                               f"JAXINT_PROCESS_ID={i}"]
        assert remote[6:] == ["exec", ".venv/bin/jaxint", "run", "configs/demo.yaml",
                              "rl.steps=3", "name=it's"]


def test_run_on_one_worker_sets_no_distributed_variables(env):
    env.update(ZONE="z", WORKER_IPS="10.0.0.2")
    (cmd,) = [c for c in _lines(_run(TPU_VM, ["--dry-run", "run", "c.yaml"], env), "gcloud")]
    assert "JAXINT_" not in " ".join(cmd)


def test_tpu_vm_errors_name_what_is_missing(env):
    out = _run(TPU_VM, ["--dry-run", "create"], env, ok=False)
    assert "set ZONE" in out
    env["ZONE"] = "z"
    assert "give CONFIG" in _run(TPU_VM, ["--dry-run", "run"], env, ok=False)
    assert "unknown command" in _run(TPU_VM, ["--dry-run", "launch"], env, ok=False)
    assert "no default runtime image" in _run(TPU_VM, ["--dry-run", "--type", "v9-8", "create"],
                                              env, ok=False)


def test_multihost_local_starts_n_cpu_processes(env):
    env["JAXINT_CMD"] = "jaxint"
    out = _run(MULTIHOST, ["--dry-run", "--local", "2", "--devices", "4", "--port", "1234",
                           "c.yaml", "k=v"], env)
    cmds = _lines(out, "env ")
    assert len(cmds) == 2
    for i, cmd in enumerate(cmds):
        assert cmd[1:7] == [
            "JAX_PLATFORMS=cpu", "XLA_FLAGS=--xla_force_host_platform_device_count=4",
            "JAXINT_COORDINATOR=localhost:1234", "JAXINT_NUM_PROCESSES=2",
            f"JAXINT_PROCESS_ID={i}", "jaxint"]
        assert cmd[7:10] == ["run", "c.yaml", "k=v"]
        assert cmd[cmd.index(">") + 1].endswith(f"process-{i}.log")


def test_multihost_hosts_and_single_node(env):
    out = _run(MULTIHOST, ["--dry-run", "--hosts", "gpu0,gpu1", "--remote-dir", "/srv/jaxint",
                           "c.yaml"], env)
    cmds = _lines(out, "ssh ")
    assert [c[3] for c in cmds] == ["gpu0", "gpu1"]
    for i, cmd in enumerate(cmds):
        remote = shlex.split(cmd[4])
        assert remote[:3] == ["cd", "/srv/jaxint", "&&"]
        assert remote[3:6] == ["JAXINT_COORDINATOR=gpu0:8476", "JAXINT_NUM_PROCESSES=2",
                               f"JAXINT_PROCESS_ID={i}"]
        assert remote[6:] == ["exec", "/srv/jaxint/.venv/bin/jaxint", "run", "c.yaml"]
    env["JAXINT_CMD"] = "jaxint"
    (cmd,) = _lines(_run(MULTIHOST, ["--dry-run", "--coordinator", "gpu0:9", "--num-processes",
                                     "2", "--process-id", "1", "c.yaml"], env), "env ")
    assert cmd == ["env", "JAXINT_COORDINATOR=gpu0:9", "JAXINT_NUM_PROCESSES=2",
                   "JAXINT_PROCESS_ID=1", "jaxint", "run", "c.yaml"]
    assert "give --coordinator" in _run(MULTIHOST, ["c.yaml"], env, ok=False)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_clean():
    scripts = [str(p) for p in sorted(LAUNCH.glob("*.sh"))]
    proc = subprocess.run(["shellcheck", "-x", *scripts], capture_output=True, text=True,
                          cwd=LAUNCH.parent, timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_real_model_bench_overrides_load_against_its_config():
    """launch/real_model_bench.sh runs on a lent GPU, where a renamed key would cost the
    whole device budget: every override it passes must load with the config it names."""
    import re

    from jaxint import config as run_config

    src = (LAUNCH / "real_model_bench.sh").read_text()
    block = src[src.index("overrides=("):src.index(")\nconfig=")]
    overrides = [o.replace("$out", "/tmp/out").replace("$model_dir", "/tmp/model")
                 for o in re.findall(r'"([^"]+)"', block)]
    config_path = re.search(r"^config=(\S+)$", src, re.M).group(1)
    cfg = run_config.load(LAUNCH.parent / config_path, overrides)
    assert cfg.stages == ("generate", "verify", "intervene", "filter", "sft", "rl")
    assert cfg.filter.num_samples >= 32 and cfg.data.limit * cfg.generate.samples_per_problem >= 64
    assert subprocess.run(["bash", "-n", str(LAUNCH / "real_model_bench.sh")]).returncode == 0


def test_gpu_bench_parts_parse_and_its_table_reads_their_json(tmp_path):
    """launch/gpu_bench.sh runs on a lent device, where a renamed flag would cost the device
    budget: every `jaxint bench` part must parse with the bench CLI, and the table step must
    read the JSON those parts write (dense and paged decode rows, fused and xla train rows)."""
    import json
    import re

    from jaxint.bench import cli as bench_cli

    src = (LAUNCH / "gpu_bench.sh").read_text()
    joined = src.replace("\\\n", " ")
    parts = re.findall(r"^run_part (\S+) (\d+) (.+)$", joined, re.M)
    assert {name for name, _, _ in parts} >= {"sampler", "sampler_paged", "train_sft",
                                               "train_sft_xla", "train_grpo"}
    for name, _, rest in parts:
        args = bench_cli._parser().parse_args(shlex.split(rest.replace('"$out', f'"{tmp_path}')))
        if name == "sampler_paged":
            assert args.kv_cache == "paged" and args.roofline_batches == "128,256"
        if name.startswith("train_"):
            assert args.attention_impl == ("xla" if name.endswith("_xla") else "auto")
    roof = {"tokens_per_s": 1000.0, "fraction_of_peak": 0.5, "prefill_tokens_per_s": 9000.0}
    (tmp_path / "sampler.json").write_text(json.dumps(
        {"device": "H200", "roofline": [{**roof, "batch": 1, "kv_cache": "dense"}]}))
    (tmp_path / "sampler_paged.json").write_text(json.dumps(
        {"device": "H200", "roofline": [{**roof, "batch": 256, "kv_cache": "paged"}]}))
    for name, impl in (("train_sft", "auto"), ("train_sft_xla", "xla")):
        (tmp_path / f"{name}.json").write_text(json.dumps(
            {"step": "sft", "batch": 2, "seq_len": 4096, "attention_impl": impl,
             "tokens_per_s": 5000.0, "mfu": 0.4, "step_s": 1.6}))
    table_script = src[src.index("python - \"$out\" <<'EOF'\n") :].split("\n", 1)[1]
    table_script = table_script[: table_script.index("\nEOF")]
    subprocess.run([sys.executable, "-", str(tmp_path)], input=table_script, text=True,
                   check=True, capture_output=True, timeout=60)
    table = (tmp_path / "table.md").read_text()
    assert "Device: H200" in table
    assert "| dense | 1 | 1000 | 50% | 9000 |" in table
    assert "| paged | 256 | 1000 | 50% | 9000 |" in table
    assert "| sft (2 x 4096) | auto | 5000 | 40% | 1.600 |" in table
    assert "| sft (2 x 4096) | xla | 5000 | 40% | 1.600 |" in table
