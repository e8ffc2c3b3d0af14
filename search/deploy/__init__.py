"""Winners as standalone models: extraction, export, the shared training recipe, fine-tuning and baselines."""
