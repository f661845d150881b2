"""`sft.replay_correct`: SFT trains on the interventions, plus (only when asked) the verified
correct rollouts, whole and with the end of turn, one example per correct sample."""

import dataclasses

import numpy as np

from jaxint import rundir
from jaxint.data import records, tokenizers
from jaxint.stages import sft as sft_stage
from jaxint.train import config as train_config

P = records.Problem(id="a", problem="Start with 2. Add 3.", answer="5", solution="2 + 3 = 5",
                    source="t", meta={})


def _run(tmp_path):
    rd = rundir.RunDir(tmp_path / "run")
    right, wrong = "2 + 3 = 5\n\n\\boxed{5}", "2 + 3 = 6\n\n\\boxed{6}"
    verify = [{"problem_id": "a", "sample_index": i, "completion": c, "reward": r}
              for i, (c, r) in enumerate([(right, 1.0), (wrong, 0.0), (right, 1.0)])]
    rundir.Shards(rd.stage("verify")).write(0, verify)
    rundir.write_jsonl(rd.stage("intervene") / "interventions.jsonl", [
        {"problem_id": "a", "sample_index": 1, "steps": ["2 + 3 = 6", "\\boxed{6}"],
         "location": 1, "content": "2 + 3 = 5"}])
    return rd


def test_replay_adds_every_correct_rollout_with_end_of_turn(tmp_path):
    rd = _run(tmp_path)
    tok = tokenizers.build_char_tokenizer(tmp_path / "tok")
    cfg = train_config.SFTConfig(seq_len=256)
    plain, counts = sft_stage.training_examples(rd, cfg, tok, {"a": P})
    assert counts["examples"] == 1 and counts["replay_examples"] == 0 and len(plain) == 1
    assert counts["example_tokens"] == len(plain[0].tokens)
    on = dataclasses.replace(cfg, replay_correct=True)
    mixed, counts = sft_stage.training_examples(rd, on, tok, {"a": P})
    assert counts["examples"] == 1 and counts["replay_examples"] == 2 and len(mixed) == 3
    assert counts["example_tokens"] == sum(len(e.tokens) for e in mixed)
    replay = mixed[1]
    assert mixed[2].text == replay.text  # sampled twice, replayed twice
    assert replay.text.count("2 + 3 = 5\n\n\\boxed{5}") == 1 and "2 + 3 = 6" not in replay.text
    assert "end_of_turn" in replay.segment_names  # a whole solution ends its turn
    assert "end_of_turn" not in mixed[0].segment_names  # an intervention never does
    # only response tokens are trained
    prompt_len = int(np.argmax(replay.loss_mask > 0))
    assert "Start with 2" in tok.decode(replay.tokens[:prompt_len])


def test_unique_targets_trains_each_problem_target_once(tmp_path):
    """Three failed samples of one problem with the same fix, and one with another fix: with
    `sft.unique_targets` the repeated fix trains once (two examples), without it three times."""
    rd = _run(tmp_path)
    same = {"problem_id": "a", "steps": ["2 + 3 = 6", "\\boxed{6}"], "location": 1,
            "content": "2 + 3 = 5"}
    other = {**same, "steps": ["2 + 3 = 5", "5 = 7", "\\boxed{7}"], "location": 2,
             "content": "so the result is 5"}
    rows = [{**same, "sample_index": i} for i in (1, 2, 3)] + [{**other, "sample_index": 4}]
    rundir.write_jsonl(rd.stage("intervene") / "interventions.jsonl", rows)
    tok = tokenizers.build_char_tokenizer(tmp_path / "tok")
    cfg = train_config.SFTConfig(seq_len=256)
    _, counts = sft_stage.training_examples(rd, cfg, tok, {"a": P})
    assert counts["examples"] == 4
    uniq, counts = sft_stage.training_examples(
        rd, dataclasses.replace(cfg, unique_targets=True), tok, {"a": P})
    assert counts["examples"] == 2 and len(uniq) == 2
    assert uniq[0].text.count("2 + 3 = 5") == 1 and "2 + 3 = 6" not in uniq[0].text
    assert "2 + 3 = 5\n\nso the result is 5" in uniq[1].text  # prefix (step 1) + the fix


def test_sft_trains_on_the_stored_target_not_a_rebuilt_one(tmp_path):
    """A row's prefix and intervention are what SFT renders, as the intervene stage stored
    them (here unlike what today's formatting would rebuild from the content)."""
    rd = _run(tmp_path)
    row = {"problem_id": "a", "sample_index": 1, "proposal_index": 0, "location": 2,
           "content": "2 + 3 = 5\n\\boxed{5}", "num_steps": 2,
           "steps": ["2 + 3 = 6", "\\boxed{6}"], "prefix": "STORED PREFIX\n\n",
           "intervention": "STORED FIX", "target": "STORED PREFIX\n\nSTORED FIX"}
    rundir.write_jsonl(rd.stage("intervene") / "interventions.jsonl", [row])
    tok = tokenizers.build_char_tokenizer(tmp_path / "tok")
    (example,), _ = sft_stage.training_examples(rd, train_config.SFTConfig(seq_len=256), tok,
                                                {"a": P})
    assert tok.decode(example.segment_tokens("prefix")) == "STORED PREFIX\n\n"
    assert tok.decode(example.segment_tokens("intervention")) == "STORED FIX"
