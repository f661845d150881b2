"""Stop strings (with a tokenizer) and the budget end samples at exactly the right token.

Deterministic with random weights: the stop strings are taken from HF's greedy outputs
(without stops), then the expected result is the shortest prefix of that output that holds
a stop token or a stop string, computed by decoding prefixes (the definition, independent of
the engine's windowed matcher). With 4-step chunks, token 0 of every sample comes from
prefill and tokens 1-4, 5-8, ... from successive chunks, so a string made of tokens 4 and 5
is completed in a different chunk than it starts in.
"""

from __future__ import annotations

import dataclasses

import pytest

from jaxint import sampling
from tests.sampling import conftest, helpers

NEVER = "~~~~"  # a stop string absent from every output (checked)


def _config(paths, **kw) -> sampling.SamplingConfig:
    return sampling.SamplingConfig(
        max_new_tokens=conftest.ENGINE_NEW_TOKENS,
        temperature=0.0,
        max_batch_slots=3,
        chunk_steps=4,
        stop_token_ids=paths.stop_ids,
        **kw,
    )


def _spanning_string(tok, cut_paths, first: int, width: int, skip=()) -> tuple[str, int]:
    """A `width`-character string of tokens first-width+1..first of some row whose first
    occurrence in that row ends at token `first` (a chunk boundary lies before `first`)."""
    for r, path in enumerate(cut_paths):
        if r in skip or len(path) <= first or min(path[first - width + 1 : first + 1]) < 4:
            continue  # ids 0-3 are special tokens: they decode to nothing
        s = tok.decode(path[first - width + 1 : first + 1])
        if helpers.cut_at_stop_string(tok, path, s) == path[: first + 1]:
            return s, r
    raise AssertionError(f"no row has a usable {width}-token string ending at token {first}")


def _expected(tok, path, stop_ids, stop_strings):
    """(tokens, finish reason, stop) by the definition: the shortest prefix ending in a stop
    token or containing a stop string; else the whole budget."""
    cut = helpers.cut_at_stop_ids(path, stop_ids)
    by_string = [
        (c, s) for s in stop_strings if (c := helpers.cut_at_stop_string(tok, cut, s)) is not None
    ]
    if by_string:
        tokens, s = min(by_string, key=lambda cs: len(cs[0]))
        assert tokens[-1] not in stop_ids or len(tokens) < len(cut), "ambiguous stop"
        return tokens, "stop", s
    if cut[-1] in stop_ids:
        return cut, "stop", cut[-1]
    return cut, "length", None


def test_stop_strings_cut_at_completing_token_across_chunks(sharp_qwen3, qwen3_paths, char_tok):
    """Stop strings end samples at the token that completes them (nothing after it is
    returned; `.text` ends with the string), including strings whose tokens straddle the
    prefill token and the first chunk (tokens 0|1) or two decode chunks (4|5 and 7-8|9),
    and a string that never occurs; stop ids and the budget still apply to the other rows.
    Runs through 3 refilled slots."""
    cut_paths = [helpers.cut_at_stop_ids(p, qwen3_paths.stop_ids) for p in qwen3_paths.tokens]
    s0, r0 = _spanning_string(char_tok, cut_paths, first=1, width=2)  # prefill | chunk 1
    s1, r1 = _spanning_string(char_tok, cut_paths, first=5, width=2, skip=(r0,))  # 1 | 2
    s2, r2 = _spanning_string(char_tok, cut_paths, first=9, width=3, skip=(r0, r1))  # 2 | 3
    strings = (s0, s1, s2, NEVER)
    assert not any(NEVER in char_tok.decode(p) for p in qwen3_paths.tokens)
    cfg = _config(qwen3_paths, stop_strings=strings)
    out = sampling.generate(
        sharp_qwen3.model, qwen3_paths.prompts, cfg, seed=0, tokenizer=char_tok, progress=False
    )
    reasons = []
    for i, (row, path) in enumerate(zip(out, qwen3_paths.tokens, strict=True)):
        tokens, reason, stop = _expected(char_tok, path, qwen3_paths.stop_ids, strings)
        got = row[0]
        assert got.tokens.tolist() == tokens, f"row {i}"
        assert (got.finish_reason, got.stop) == (reason, stop), f"row {i}"
        assert len(got.logprobs) == len(tokens)
        text = char_tok.decode(tokens, skip_special_tokens=True)
        if isinstance(stop, str):
            text = text[: text.index(stop) + len(stop)]
            assert got.text.endswith(stop)
        assert got.text == text, f"row {i}"
        reasons.append(stop)
    assert [reasons[r] for r in (r0, r1, r2)] == [s0, s1, s2]
    assert [len(out[r][0].tokens) for r in (r0, r1, r2)] == [2, 6, 10]


def test_budget_of_one_token_ends_at_prefill(sharp_qwen3, qwen3_paths):
    """max_new_tokens=1: every sample is its prefill token alone, finish reason "length"
    (or "stop" when that token is a stop id); no decode step runs."""
    cfg = dataclasses.replace(_config(qwen3_paths), max_new_tokens=1)
    out = sampling.generate(sharp_qwen3.model, qwen3_paths.prompts, cfg, seed=0, progress=False)
    for row, path in zip(out, qwen3_paths.tokens, strict=True):
        assert row[0].tokens.tolist() == path[:1]
        want = "stop" if path[0] in qwen3_paths.stop_ids else "length"
        assert row[0].finish_reason == want


@pytest.mark.parametrize("bad", [("",), ("ok", "")])
def test_empty_stop_string_rejected(bad):
    """An empty stop string would match everywhere: the config rejects it by name."""
    with pytest.raises(ValueError, match="stop_strings"):
        sampling.SamplingConfig(stop_strings=bad)
