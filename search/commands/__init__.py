"""The console scripts of the search side, one leaf module each (``python -m search.commands.<name>`` works too)."""
