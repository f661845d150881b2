"""Errors for people (issue 15): one `jaxint: error:` line plus a hint, exit 2 for bad input
or config and 1 for internal errors; `--debug` or JAXINT_DEBUG=1 shows the traceback."""

from __future__ import annotations

import pytest

from jaxint import cli, loop


def _stderr(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_bad_config_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sft: [1, 2]\n")
    assert cli.main(["run", str(bad)]) == 2
    err = _stderr(capsys)
    assert len(err) == 2, err
    assert err[0] == (f"jaxint: error: {bad}: key 'sft': is a section of settings "
                      "(a mapping of key: value), got [1, 2]")
    assert err[1].startswith("jaxint: hint: ")


def test_bad_data_names_file_line_field_and_exits_2(tmp_path, capsys, monkeypatch):
    from jaxint.data import config as data_config
    from jaxint.data import loaders

    data = tmp_path / "p.jsonl"
    data.write_text('{"id": "a", "problem": "", "answer": "1"}\n')

    def fake_run(cfg, **kw):
        loaders.load_problems(data_config.DatasetConfig(path=str(data)))

    monkeypatch.setattr(loop, "run", fake_run)
    (tmp_path / "c.yaml").write_text("")
    assert cli.main(["run", str(tmp_path / "c.yaml")]) == 2
    err = _stderr(capsys)
    assert err[0] == f"jaxint: error: {data}: line 1: field 'problem': empty"


def test_internal_error_exits_1_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    def boom(cfg, **kw):
        raise RuntimeError("slot 3: device ended a sample\nthe host did not")

    monkeypatch.setattr(loop, "run", boom)
    (tmp_path / "c.yaml").write_text("")
    argv = ["run", str(tmp_path / "c.yaml")]
    monkeypatch.delenv("JAXINT_DEBUG", raising=False)
    assert cli.main(argv) == 1
    err = _stderr(capsys)
    assert err[0] == ("jaxint: internal error: RuntimeError: slot 3: device ended a sample "
                      "the host did not")
    assert "--debug" in err[1]
    with pytest.raises(RuntimeError):
        cli.main(["--debug", *argv])
    monkeypatch.setenv("JAXINT_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(argv)


def test_restart_from_is_passed_on(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(loop, "run", lambda cfg, **kw: seen.update(kw))
    (tmp_path / "c.yaml").write_text("")
    assert cli.main(["run", str(tmp_path / "c.yaml"), "--restart-from", "sft"]) == 0
    assert seen["restart_from"] == "sft"
