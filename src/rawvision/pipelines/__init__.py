"""The repository model: a classifier pipeline as data, its writer, its reader and ``add``."""
