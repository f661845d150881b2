"""Credit assignment below the outcome level: per-token advantages for the GRPO loop.

One module per method (`outcome`, `vineppo`, `grpo_lambda`, `oppo`, `capo`), each a pure
function from a scored group of rollouts (plus the extra passes it asks the trainer for,
through the callbacks of `passes`) to advantages; `registry.assign` picks one by `rl.credit`.
Options are typed in `config` (free of JAX, like `jaxint.train.config`).
"""
