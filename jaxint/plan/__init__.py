"""`jaxint plan`: size a run before renting the hardware.

The real jitted steps (SFT train step, GRPO update and scoring, sampler prefill and decode)
are traced on abstract arrays (no weights allocated), compiled ahead of time by the target's
own compiler (libtpu for TPU topologies, XLA:CPU for `cpu-8`), and their per-device memory is
set against the chip's HBM. See `jaxint.plan.cli` for the command and configs/plan_table.md for
how to read its table.
"""
