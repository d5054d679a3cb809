"""Diffusion in mask space: schedule, DDIM, staged timestep assignment, losses and samplers."""
