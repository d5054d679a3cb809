"""Fingerprint, planner, preprocessor and splits: `usd_plan_and_preprocess`."""
