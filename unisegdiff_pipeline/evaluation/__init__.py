"""Metrics (Dice, IoU with the empty-mask rule) and folder evaluation (`usd_evaluate`)."""
