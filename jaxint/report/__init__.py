"""`jaxint report`: a self-contained HTML page about a run directory.

``runfiles`` reads the run directory tolerantly, ``plots`` draws matplotlib figures as inline
SVG, ``sections`` builds the page's parts, ``html`` assembles and writes the page.
"""
