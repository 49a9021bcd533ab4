"""mlops_common."""
