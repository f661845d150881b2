"""Problem records and loaders, bundled evaluation sets, chat templating with loss masks, grain
input pipelines, and the synthetic arithmetic task.

Import the modules you need (``from jaxint.data import loaders``); this file imports nothing,
so that ``jaxint.data.synthetic`` does not pull in transformers or grain.
"""
