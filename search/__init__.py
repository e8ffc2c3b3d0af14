"""Cost model, subnet evaluation, evolutionary search, fine-tuning and the report (in progress)."""
