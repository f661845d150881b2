"""Progress bars that suit both a terminal and a log file.

On a terminal, `Bar` is tqdm as usual. Anywhere else (a `jaxint run ... > log` on a TPU VM,
`launch/tpu_vm.sh run`'s per-worker logs, CI) tqdm's carriage-return redraws pile up into one
enormous line, so `Bar` prints one plain line per `step_pct` percent instead, with tqdm's own
rate and ETA. `--quiet` stays `disable=True`, as with tqdm. A drop-in for `tqdm.tqdm`:
`from jaxint.progress import Bar as tqdm`.
"""

from __future__ import annotations

import io
import sys
from typing import Any

from tqdm import tqdm


def interactive(file: Any = None) -> bool:
    """True when `file` (default stderr) is a terminal that can redraw a bar in place."""
    file = sys.stderr if file is None else file
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


class Bar(tqdm):
    """tqdm on a terminal; elsewhere one line per `step_pct` percent of `total` (or per
    `every` updates when the total is unknown), plus a last line when it closes.

    Args:
        lines: force line mode (True) or tqdm's redraws (False); None decides from the file.
        step_pct: percent of `total` between two lines in line mode.
        every: updates between two lines in line mode when `total` is unknown.
    """

    def __init__(self, *args: Any, lines: bool | None = None, step_pct: float = 10.0,
                 every: int = 100, **kwargs: Any):
        self._line_mode = (not interactive(kwargs.get("file"))) if lines is None else lines
        self._step_pct, self._every = step_pct, every
        self._next_pct, self._printed_n = step_pct, 0
        if self._line_mode:
            kwargs.setdefault("mininterval", 0.0)  # every update reaches `display`, cheaply
            kwargs.setdefault("ascii", True)
        super().__init__(*args, **kwargs)

    def _due(self) -> bool:
        if self.total:
            pct = 100.0 * self.n / self.total
            if pct < self._next_pct:
                return False
            while self._next_pct <= pct:
                self._next_pct += self._step_pct
            return True
        return self.n - self._printed_n >= self._every

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if not self._line_mode:
            return super().display(msg, pos)
        if self.n == self._printed_n or not self._due():
            return True
        self._printed_n = self.n
        self.fp.write(self.format_meter(**self.format_dict) + "\n")
        self.fp.flush()
        return True

    def close(self) -> None:
        if self._line_mode and not self.disable and self.n != self._printed_n:
            self._printed_n = self.n
            self.fp.write(self.format_meter(**self.format_dict) + "\n")
            self.fp.flush()
        if self._line_mode:
            self.fp = io.StringIO()  # tqdm's own closing redraw and newline go nowhere
        super().close()
