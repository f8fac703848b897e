"""Sliding windows over a scene and the blending of their predictions into per-pixel probabilities.

A chip classifier gives one probability vector per window. Every pixel is covered by several overlapping windows
(window / stride squared of them inside the scene); its probabilities are their weighted mean, each window weighted
by a Hann (raised-cosine) ramp that is highest at the window's centre and near zero at its edges, so the map has no
seams where a hard mosaic of windows would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from landcover_transfer.workflow.errors import DataError


def window_starts(length: int, size: int, stride: int) -> np.ndarray:
    """Offsets of windows of `size` pixels every `stride` pixels along `length`, the last one flush with the end,
    so that every pixel is covered."""
    if length < size:
        raise DataError(f"the scene is {length} pixels across, less than one window of {size} (the model's input "
                        "size): give a larger scene")
    starts = np.arange(0, length - size + 1, stride)
    return starts if starts[-1] == length - size else np.append(starts, length - size)


def hann_ramp(size: int) -> np.ndarray:
    """The 1-D weights of a window's pixels: sin² over the window, never exactly zero (a pixel covered by one window
    alone, in a scene's corner, still gets its prediction)."""
    return (np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2).astype(np.float32)


def blended_rows(read_strip: Callable[[int], np.ndarray], height: int, width: int, size: int, stride: int,
                 predict: Callable[[np.ndarray], np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """Blended class probabilities of a scene, from top to bottom: yields (first row, probabilities of shape
    (rows, width, classes)) for consecutive bands of rows.

    `read_strip(row)` returns the scene's pixels in rows [row, row + size) (size, width, channels) and
    `predict(windows)` the probabilities (n, classes) of a stack of windows. Memory holds one strip of windows and
    the weighted sums of `size` rows, whatever the scene's height: the rows above the next strip's first row get no
    more windows, so they are final and leave the buffer.
    """
    row_starts, column_starts = window_starts(height, size, stride), window_starts(width, size, stride)
    ramp = hann_ramp(size)
    column_weights = np.zeros(width, np.float32)
    for x in column_starts:
        column_weights[x:x + size] += ramp
    sums = weights = None
    for index, y in enumerate(row_starts):
        strip = read_strip(int(y))
        probabilities = predict(np.stack([strip[:, x:x + size] for x in column_starts]))
        # the weight of a window's pixel is ramp[row] * ramp[column]: the row factor separates out
        profile = np.zeros((width, probabilities.shape[1]), np.float32)
        for x, p in zip(column_starts, probabilities, strict=True):
            profile[x:x + size] += ramp[:, None] * p
        if sums is None:
            sums = np.zeros((size, width, probabilities.shape[1]), np.float32)
            weights = np.zeros((size, width), np.float32)
        sums += ramp[:, None, None] * profile[None]
        weights += ramp[:, None] * column_weights[None]
        final = int(row_starts[index + 1] - y) if index + 1 < len(row_starts) else size
        yield int(y), sums[:final] / weights[:final, :, None]
        sums = np.concatenate([sums[final:], np.zeros_like(sums[:final])])
        weights = np.concatenate([weights[final:], np.zeros_like(weights[:final])])
