"""Metric writers: every stage's metrics.jsonl line, mirrored to TensorBoard and W&B."""
