"""Standalone training: the module every static network trains with, and the recipe that fits it."""
