"""Evaluation: n samples per problem, verifier rewards, pass@1 and unbiased pass@k."""
