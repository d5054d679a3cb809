"""Converters from public lesion-dataset releases to the raw format of documentation/dataset_format.md."""
