"""Evaluation apart from the product: judged sets, metrics with intervals, paired comparisons.

Kept out of the product packages (``matcher``, ``api`` ...) as openreview-expertise keeps its evaluators apart
from its models: the benchmarks and the notebooks import it, the service never does.
"""
