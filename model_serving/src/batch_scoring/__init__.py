"""Batch serving: point-in-time features for a request file, champion predictions, summary."""
