"""Robustness of the trained models (Question 4): attack evaluation, transfer, their tables and plots."""
