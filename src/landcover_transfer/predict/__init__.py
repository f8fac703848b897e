"""Applying trained models to what was never in the dataset: GeoTIFF scenes."""
