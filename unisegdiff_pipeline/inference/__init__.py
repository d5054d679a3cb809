"""Inference: fold models, sampling, STAPLE fusion across samples and folds, and `usd_predict`."""
