"""Training: train state, token log-probs and losses, SFT and GRPO steps, checkpoints."""
