"""Hyperparameter search (``green-hpo``) of the winners' training, with the evolution's machinery."""
