"""Test images shared by tests and benchmarks: hostile inputs, synthetic digits, photos, demo samples."""
