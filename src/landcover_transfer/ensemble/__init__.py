"""Ensembles of the trained models (Question 3): member choice, voting, stacking, diversity."""
