"""Pallas' TPU interpret mode, able to run the ragged paged attention kernel on CPU.

Why this module: the paged cache's TPU decode path is JAX's own ragged paged attention kernel
(`paged_cache`), and the CPU tests hold it to the gather path by running its unmodified body
in Pallas' TPU interpret mode. The interpreter of jax 0.10.2 (still so in jax 0.11.1, read
from its source) cannot run that kernel, for two reasons in the interpreter, not the kernel:

  reshaped refs   a load resolves its ref transforms with `interpret_utils.to_range`, which
                  composes indexers only; the kernel reads its KV DMA buffer through
                  `.reshape(...)` (and a bfloat16 buffer through `.bitcast(uint32)`), so the
                  read dies with "'ReshapeTransform' object has no attribute 'indices'".
  masked stores   `swap_buffer_content` bounds-checks a masked store with
                  `in_bounds_mask[in_bounds_shape[i]:] = False` for every axis i, which always
                  slices axis 0: an in-bounds masked store whose mask is longer on axis 0 than
                  some later axis (the kernel's (8, 2, 128) accumulator stores) is refused as
                  "Out-of-bounds masked swap".

`install()` wraps the interpreter's `get` and `swap` callbacks (idempotent, process-wide: the
callbacks are bound when a kernel is traced and run when the compiled function runs, so a
scoped patch would miss the calls of a jitted decode step):
  * a load whose transforms hold a reshape or bitcast reads the rectangle its leading
    indexers name through the stock callback, then applies the rest in numpy, in order
    (reshape; indexers; a bitcast with Mosaic's packing along the second-minor axis, the rule
    `pltpu.bitcast` lowers with);
  * a masked store, or a store through a reshape, becomes a read-modify-write of that
    rectangle through the stock callbacks (the masked lanes keep their old value; the swap
    returns the old value where the mask is on and the stored one elsewhere, as the stock
    masked swap does).
Everything else goes to the stock callbacks unchanged. One difference from the stock
interpreter: a masked store that reaches past its buffer is refused even where the mask is
off (the read of the rectangle is out of bounds); the kernel never does that.

Race detection and vector clocks see the whole rectangle read and written: conservative.
This is a test harness for CPU only; TPU runs compile the kernel with Mosaic and never come here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

_lock = threading.Lock()
_installed = False


def install() -> bool:
    """Wraps the interpreter's load and store callbacks (once per process).

    Returns whether the wrappers are in place: False where this jax's interpreter does not
    have the callbacks they wrap (a future jax; then the kernel runs on the stock interpreter
    and the kernel test says whether it can).
    """
    global _installed
    with _lock:
        if _installed:
            return True
        try:
            from jax._src.pallas.mosaic.interpret import interpret_pallas_call as ipc
        except ImportError:
            return False
        stock_get = getattr(getattr(ipc, "get", None), "__wrapped__", None)
        stock_swap = getattr(getattr(ipc, "swap", None), "__wrapped__", None)
        wrap = getattr(ipc, "fail_on_exception", None)
        if stock_get is None or stock_swap is None or wrap is None:
            return False
        ipc.get = wrap(_make_get(stock_get))
        ipc.swap = wrap(_make_swap(stock_get, stock_swap))
        _installed = True
        return True


@contextlib.contextmanager
def tpu_interpret_mode() -> Iterator[None]:
    """`pltpu.force_tpu_interpret_mode()` with the interpreter fixes above installed."""
    from jax.experimental.pallas import tpu as pltpu

    install()
    with pltpu.force_tpu_interpret_mode():
        yield


def _indexer_types() -> tuple[type, ...]:
    from jax._src.state import indexing

    return (indexing.NDIndexer,)


def _split(transforms: Sequence[Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(the leading indexers, which name a rectangle of the buffer; the transforms after)."""
    indexers = _indexer_types()
    for i, t in enumerate(transforms):
        if not isinstance(t, indexers):
            return tuple(transforms[:i]), tuple(transforms[i:])
    return tuple(transforms), ()


def _index(t: Any) -> tuple:
    from jax._src.pallas.mosaic.interpret import utils as interpret_utils

    return interpret_utils.to_range([t])


def bitcast_rows(x: np.ndarray, dtype: Any) -> np.ndarray:
    """Mosaic's ref bitcast on a numpy array: a narrower type packs `p` consecutive rows of the
    second-minor axis into one wider element (row r * p + j in bits [j * w, (j + 1) * w));
    a wider type unpacks the same way."""
    dtype = np.dtype(dtype)
    src, dst = x.dtype.itemsize, dtype.itemsize
    if x.ndim < 2:
        raise ValueError(f"bitcast of a ref needs 2 or more dims, got shape {x.shape}")
    *lead, m, n = x.shape
    if src < dst:
        p = dst // src
        if m % p:
            raise ValueError(f"bitcast {x.dtype} -> {dtype}: {m} rows do not pack by {p}")
        packed = np.ascontiguousarray(x.reshape(*lead, m // p, p, n).swapaxes(-1, -2))
        return packed.view(dtype)[..., 0]
    if src > dst:
        p = src // dst
        unpacked = np.ascontiguousarray(x).view(dtype).reshape(*lead, m, n, p)
        return np.ascontiguousarray(unpacked.swapaxes(-1, -2)).reshape(*lead, m * p, n)
    return x.view(dtype)


def _read_through(arr: np.ndarray, rest: Sequence[Any]) -> np.ndarray:
    from jax._src.state import types as state_types

    for t in rest:
        if isinstance(t, state_types.ReshapeTransform):
            arr = arr.reshape(t.shape)
        elif isinstance(t, state_types.BitcastTransform):
            arr = bitcast_rows(arr, t.dtype)
        elif isinstance(t, _indexer_types()):
            arr = arr[_index(t)]
        else:
            raise NotImplementedError(f"interpret mode: ref transform {type(t).__name__}")
    return arr


def _view_through(arr: np.ndarray, rest: Sequence[Any]) -> np.ndarray:
    """A writable view of `arr` through reshapes and indexers (a bitcast view cannot be
    written back through numpy and is refused by name)."""
    from jax._src.state import types as state_types

    view = arr
    for t in rest:
        if isinstance(t, state_types.ReshapeTransform):
            view = view.reshape(t.shape)
        elif isinstance(t, _indexer_types()):
            view = view[_index(t)]
        else:
            raise NotImplementedError(f"interpret mode: store through {type(t).__name__}")
        if not np.shares_memory(view, arr):
            raise NotImplementedError("interpret mode: store through a copying transform")
    return view


def _make_get(stock_get):
    def get(token, device_id, local_core_id, memory_space, buffer_id, transforms, *args,
            **kwargs):
        head, rest = _split(transforms)
        if not rest:
            return stock_get(token, device_id, local_core_id, memory_space, buffer_id,
                             transforms, *args, **kwargs)
        token, whole = stock_get(token, device_id, local_core_id, memory_space, buffer_id,
                                 head, *args, **kwargs)
        return token, _read_through(np.asarray(whole), rest)

    return get


def _make_swap(stock_get, stock_swap):
    def swap(token, device_id, local_core_id, memory_space, buffer_id, transforms, val, mask,
             *, source_info=None):
        head, rest = _split(transforms)
        if mask is None and not rest:
            return stock_swap(token, device_id, local_core_id, memory_space, buffer_id,
                              transforms, val, mask, source_info=source_info)
        token, whole = stock_get(token, device_id, local_core_id, memory_space, buffer_id,
                                 head, source_info=source_info)
        whole = np.array(whole)
        view = _view_through(whole, rest)
        val = np.asarray(val)
        old = view.copy()
        if mask is None:
            view[...] = val
            returned = old
        else:
            mask = np.asarray(mask, bool)
            view[...] = np.where(mask, val, old)
            returned = np.where(mask, old, val)
        token, _ = stock_swap(token, device_id, local_core_id, memory_space, buffer_id, head,
                              whole, None, source_info=source_info)
        return token, returned

    return swap
