"""Features of a pretrained CNN and the classical models trained on them (Question 1)."""
