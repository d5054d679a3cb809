"""Converters from public lesion-dataset releases to the raw format of SPEC section 3."""
