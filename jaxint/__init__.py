"""jaxint: Intervention Training (InT) for LLM math reasoning in JAX.

The pipeline (generate -> verify -> intervene -> filter -> SFT -> GRPO -> eval) lives in
subpackages; see README.md and DESIGN.md. Importing this package imports nothing heavy.
"""

__version__ = "0.1.0"
