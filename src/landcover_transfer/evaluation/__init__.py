"""Scoring a model's predictions: metrics, intervals and paired tests."""
