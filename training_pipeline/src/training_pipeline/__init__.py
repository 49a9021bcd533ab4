"""training_pipeline."""
