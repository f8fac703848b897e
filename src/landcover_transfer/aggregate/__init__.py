"""Comparisons across the whole study: the paired tests of the study's claims and the ablation table."""
