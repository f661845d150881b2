"""`jaxint.progress.Bar`: tqdm on a terminal, one line per 10% in a log file."""

from __future__ import annotations

import io
import re

from jaxint import progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_one_line_per_ten_percent_with_rate_and_eta():
    out = io.StringIO()
    with progress.Bar(total=200, desc="grpo", file=out) as bar:
        for _ in range(200):
            bar.update(1)
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 10
    assert [int(re.search(r"(\d+)%", line).group(1)) for line in lines] == list(
        range(10, 101, 10))
    assert all(line.startswith("grpo:") and re.search(r"(it/s|s/it)]$", line) for line in lines)
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", lines[0])  # elapsed < remaining (the ETA)


def test_big_jumps_and_an_early_close_print_once_each():
    out = io.StringIO()
    bar = progress.Bar(total=10, file=out)
    bar.update(7)  # 70%: one line, not seven
    bar.close()  # stopped early (preempted): the last state is still logged
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "7/10" in lines[0]  # the close adds nothing new
    out = io.StringIO()
    bar = progress.Bar(total=10, file=out)
    bar.update(3)
    bar.update(3)  # 60%: lines at 30% and 60%
    bar.update(1)  # 70%
    bar.close()  # 7/10 was printed at 70%: no repeat
    assert [re.search(r"(\d+)/10", x).group(1) for x in out.getvalue().splitlines()] == [
        "3", "6", "7"]


def test_unknown_total_prints_every_n_updates():
    out = io.StringIO()
    with progress.Bar(file=out, every=5) as bar:
        for _ in range(12):
            bar.update(1)
    assert len(out.getvalue().splitlines()) == 3  # at 5, at 10, and the close at 12


def test_a_terminal_gets_tqdm_redraws_and_quiet_prints_nothing():
    tty = _Tty()
    with progress.Bar(total=3, file=tty) as bar:
        bar.update(3)
    assert "\r" in tty.getvalue()
    out = io.StringIO()
    with progress.Bar(total=3, file=out, disable=True) as bar:
        bar.update(3)
    assert out.getvalue() == ""


def test_the_verify_stage_shows_a_shard_bar_and_quiet_silences_it(tmp_path, capsys):
    """Shard loops (here verify's) log one line per shard step off a terminal; with
    `progress=False` (what `--quiet` passes down) they print nothing."""
    from jaxint import rundir
    from jaxint.data import records
    from jaxint.stages import verify as verify_stage

    problem = records.Problem("p0", "1+1?", "2", None, "test")
    gen = rundir.Shards(tmp_path / "generate")
    for k in range(2):
        gen.write(k, [{"problem_id": "p0", "sample_index": k, "completion": "\\boxed{2}"}])
    verify_stage.run(rundir.RunDir(tmp_path), problems=[problem], progress=False)
    assert "verify" not in capsys.readouterr().err
    for k in range(2):
        (tmp_path / "verify" / f"shard-{k:05d}.jsonl").unlink()
    summary = verify_stage.run(rundir.RunDir(tmp_path), problems=[problem])
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("verify:")]
    assert summary["correct"] == 2 and len(lines) == 2 and "2/2" in lines[-1]
