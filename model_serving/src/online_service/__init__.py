"""The online BentoML service: feature reads, the champion model, ranking, HTTP pieces."""
