"""Datasets and benchmarks that prove the indexes at scale."""
