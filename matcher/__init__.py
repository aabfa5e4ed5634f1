"""Matching: text channels, graph features, fusion, re-ranking, confidence and explanations."""
