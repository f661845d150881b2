"""Per-token log-probabilities (and entropies) of a sequence under the model, computed in
sequence chunks so the [B, T, V] logits never exist at once (16K tokens x 152K vocab would
be 10 GB per sequence); each chunk is rematerialised in the backward pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxint.models import decoder


def from_hidden(
    model: decoder.Decoder, hidden_BTD: jax.Array, targets_BT: jax.Array, *, chunk: int = 512,
    with_entropy: bool = False,
) -> tuple[jax.Array, jax.Array | None]:
    """log p(targets[t] | hidden[t]) [B, T] float32, and the entropy [B, T] if asked."""
    B, T, D = hidden_BTD.shape
    chunk = min(chunk, T)
    pad = (-T) % chunk
    if pad:
        hidden_BTD = jnp.pad(hidden_BTD, ((0, 0), (0, pad), (0, 0)))
        targets_BT = jnp.pad(targets_BT, ((0, 0), (0, pad)))
    n = (T + pad) // chunk
    h = hidden_BTD.reshape(B, n, chunk, D).swapaxes(0, 1)  # [n, B, C, D]
    t = targets_BT.reshape(B, n, chunk).swapaxes(0, 1)

    @jax.checkpoint
    def one(args: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        h_c, t_c = args
        logits = model.logits(h_c)  # [B, C, V] float32
        lse = jax.nn.logsumexp(logits, axis=-1)
        lp = jnp.take_along_axis(logits, t_c[..., None], axis=-1)[..., 0] - lse
        ent = lse - jnp.sum(jax.nn.softmax(logits, axis=-1) * logits, axis=-1) if with_entropy \
            else jnp.zeros_like(lse)
        return lp, ent

    lp, ent = jax.lax.map(one, (h, t))
    lp = lp.swapaxes(0, 1).reshape(B, n * chunk)[:, :T]
    ent = ent.swapaxes(0, 1).reshape(B, n * chunk)[:, :T]
    return lp, (ent if with_entropy else None)


def sequence_logprobs(
    model: decoder.Decoder, tokens_BT: jax.Array, *, positions: jax.Array | None = None,
    segment_ids: jax.Array | None = None, attention_mask: jax.Array | None = None,
    chunk: int = 512, with_entropy: bool = False,
) -> tuple[jax.Array, jax.Array | None]:
    """logp[:, t] = log p(tokens[:, t+1] | tokens[:, :t+1]); shape [B, T-1].

    A token t is trained when `loss_mask[:, t]` is 1, so the matching mask for these
    log-probs is `loss_mask[:, 1:]`.
    """
    hidden = model.hidden_states(
        tokens_BT, attention_mask, positions=positions, segment_ids=segment_ids
    )
    return from_hidden(model, hidden[:, :-1], tokens_BT[:, 1:], chunk=chunk,
                       with_entropy=with_entropy)
