"""Interventions (PAPER.md steps 4-8): split failed attempts into steps, propose one corrective
step with a reference-guided intervener, parse and leak-check it, build SFT targets, filter
them by continuation, and measure all of it.

Public API (stable): :func:`parse` (``jaxint.intervene.parsing.parse``) and
:func:`build_target` (``jaxint.intervene.targets.build_target``). Everything else is reached
through its module: ``steps``, ``prompts``, ``parsing``, ``leak``, ``targets``,
``interveners``, ``filter``, ``conditioning``, ``stats``, ``config``, ``stage``.

The parser lives in ``parsing.py`` (not ``parse.py``) so that ``jaxint.intervene.parse`` is
always the function, never shadowed by a submodule of the same name. Importing this package
imports neither JAX nor math-verify.
"""

from jaxint.intervene.parsing import Proposal, parse
from jaxint.intervene.targets import build_target

__all__ = ["Proposal", "build_target", "parse"]
