"""`jaxint bench`: throughput measurements, always as ratios against a baseline run in the same
process (transformers, or static batching) so figures are comparable across machines."""
