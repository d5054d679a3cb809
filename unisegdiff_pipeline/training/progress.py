"""Training log (training_log.txt), epoch history and the progress plot (progress.png)."""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from unisegdiff_pipeline.atomic import atomic_write  # noqa: E402
from unisegdiff_pipeline.diffusion.timesteps import STAGES  # noqa: E402


class TrainingProgress:
    """Keeps one record per epoch and writes the log and plot (only where `enabled`, i.e. on rank 0)."""

    def __init__(self, folder: Path, enabled: bool = True):
        self.folder = folder
        self.enabled = enabled
        self.history: list[dict] = []
        self.log_file = folder / "training_log.txt"

    def log(self, message: str, also_print: bool = True) -> None:
        """Timestamped line in training_log.txt (and on stdout)."""
        if not self.enabled:
            return
        line = f"{datetime.now().strftime('%Y-%m-%d %H:%M:%S')}: {message}"
        with open(self.log_file, "a") as f:
            f.write(line + "\n")
        if also_print:
            print(line, flush=True)

    def add_epoch(self, record: dict) -> None:
        """Store an epoch record and redraw progress.png."""
        self.history.append(record)
        if self.enabled:
            self.plot()

    def plot(self) -> None:
        """Losses (per stage in the DNet phase), validation pseudo-Dice, learning rate and epoch time."""
        if not self.history:
            return
        x = list(range(1, len(self.history) + 1))
        fig, axes = plt.subplots(4, 1, figsize=(10, 14), sharex=True)
        ax = axes[0]
        ax.plot(x, [r["train_loss"] for r in self.history], color="black", label="train loss (total)")
        colours = {"rapid": "tab:red", "probabilistic": "tab:orange", "refinement": "tab:blue"}
        for stage in STAGES:
            ys = [r.get("stage_losses", {}).get(stage) for r in self.history]
            if any(y is not None for y in ys):
                ax.plot(x, [float("nan") if y is None else y for y in ys], color=colours[stage], label=f"{stage} stage")
        ax.set_ylabel("loss")
        ax.legend(loc="upper right", fontsize=8)
        ax = axes[1]
        ax.plot(x, [r["pseudo_dice"] for r in self.history], color="tab:green", label="validation pseudo-Dice")
        ax.plot(x, [r["ema_pseudo_dice"] for r in self.history], color="tab:green", linestyle="--",
                label="moving average (selects checkpoint_best)")
        ax.set_ylabel("pseudo-Dice")
        ax.set_ylim(0, 1)
        ax.legend(loc="lower right", fontsize=8)
        axes[2].plot(x, [r["lr"] for r in self.history], color="tab:purple")
        axes[2].set_ylabel("learning rate")
        axes[3].plot(x, [r["epoch_time"] for r in self.history], color="tab:gray")
        axes[3].set_ylabel("epoch time (s)")
        axes[3].set_xlabel("epoch (both phases)")
        phases = [r["phase"] for r in self.history]
        for i in range(1, len(phases)):
            if phases[i] != phases[i - 1]:
                for a in axes:
                    a.axvline(i + 0.5, color="gray", linestyle=":")
        axes[0].set_title(" -> ".join(dict.fromkeys(phases)) + " training")
        fig.tight_layout()
        try:
            with atomic_write(self.folder / "progress.png") as tmp:
                fig.savefig(tmp, dpi=80)
        finally:
            plt.close(fig)

    def state_dict(self) -> dict:
        """History for checkpoints."""
        return {"history": self.history}

    def load_state_dict(self, state: dict) -> None:
        """Restore history."""
        self.history = list(state["history"])


class Timer:
    """Wall-clock seconds since construction."""

    def __init__(self):
        self.start = time.time()

    def elapsed(self) -> float:
        """Seconds elapsed."""
        return time.time() - self.start
