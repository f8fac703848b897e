"""Which bands of a raster are red, green and blue: indexes as configured, or Sentinel-2 band names matched against
the file's band descriptions (many files carry only "Band n" there; then give indexes)."""

from __future__ import annotations

import re

from landcover_transfer.workflow.errors import ConfigError, DataError


def _band_name(text: str) -> str | None:
    """`B04`, `b4`, `B4 (red)` -> `B4`; `B8A` -> `B8A`; None when the text is no Sentinel-2 band name."""
    match = re.match(r"\s*B0*(\d{1,2}A?)\b", text, re.I)
    return f"B{match[1].upper()}" if match else None


def rgb_indexes(bands: list, count: int, descriptions: tuple, path: str) -> list[int]:
    """1-based band indexes of red, green and blue in a raster of `count` bands."""
    if len(bands) != 3:
        raise ConfigError(f"{path}: `bands` lists {len(bands)} bands; list three, red, green and blue, e.g. [3, 2, 1]")
    if count < 3:
        raise DataError(f"{path} has {count} band(s); a red, a green and a blue band are needed")
    named = {_band_name(text or ""): index for index, text in enumerate(descriptions, start=1)}
    indexes = []
    for band in bands:
        if isinstance(band, int):
            if not 1 <= band <= count:
                raise ConfigError(f"{path}: band {band} does not exist (the file has bands 1 to {count})")
            indexes.append(band)
        elif _band_name(band) in named:
            indexes.append(named[_band_name(band)])
        else:
            raise ConfigError(f"{path}: no band is described as '{band}' (descriptions: "
                              f"{', '.join(text or '-' for text in descriptions)}); give its number instead")
    return indexes
