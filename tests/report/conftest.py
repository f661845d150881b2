"""Report test fixtures."""

import pytest

from jaxint.report import plots


@pytest.fixture
def fast_plots(monkeypatch):
    """Skips drawing (about 0.2 s of CPU per figure) where a test checks the page, not the
    pictures: figures are still built from the data, only the SVG is a labelled stub."""
    monkeypatch.setattr(plots, "to_svg",
                        lambda fig, label: f'<svg role="img" aria-label="{label}"></svg>')
