"""Training: data loading and augmentation, trainers (looked up by name), checkpoints, logs, `usd_train`."""
