"""An nnU-Net v2 trainer that trains for a wall-clock budget (benchmark peer only; installed by real_data.py).

After the first epoch it measures the epoch time and sets the number of epochs (and the poly learning-rate
schedule) so that training fills USD_NNUNET_BUDGET_S seconds (at least two epochs). Epochs are
USD_NNUNET_ITERATIONS (default 10) iterations, so the budget is met closely on a CPU. USD_NNUNET_MAX_BATCH, when
set, caps the planned batch: nnU-Net plans the batch for a GPU, and on a CPU a batch of 51 leaves two epochs in a
5-minute budget. The final validation runs without mirroring test-time augmentation (our sampler uses none either;
on a CPU it would cost 4x). Everything else is nnU-Net's default trainer.
"""
import os
import time

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainer_CPUBudget(nnUNetTrainer):
    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.budget_s = float(os.environ.get("USD_NNUNET_BUDGET_S", "720"))
        self.num_iterations_per_epoch = int(os.environ.get("USD_NNUNET_ITERATIONS", "10"))
        self.num_val_iterations_per_epoch = 5
        self.num_epochs = 1000  # replaced after the first epoch

    def _set_batch_size_and_oversample(self):
        super()._set_batch_size_and_oversample()
        cap = os.environ.get("USD_NNUNET_MAX_BATCH")
        if cap and self.batch_size > int(cap):
            self.print_to_log_file(f"batch {self.batch_size} of the plan capped to {cap} (USD_NNUNET_MAX_BATCH)")
            self.batch_size = int(cap)

    def run_training(self):
        self.on_train_start()
        start = time.time()
        while self.current_epoch < self.num_epochs:
            self.on_epoch_start()
            self.on_train_epoch_start()
            outputs = [self.train_step(next(self.dataloader_train)) for _ in range(self.num_iterations_per_epoch)]
            self.on_train_epoch_end(outputs)
            with torch.no_grad():
                self.on_validation_epoch_start()
                val = [self.validation_step(next(self.dataloader_val)) for _ in range(self.num_val_iterations_per_epoch)]
                self.on_validation_epoch_end(val)
            self.on_epoch_end()
            if self.current_epoch == 1:
                per_epoch = time.time() - start
                self.num_epochs = max(2, int(self.budget_s / per_epoch))
                self.lr_scheduler.max_steps = self.num_epochs
                self.print_to_log_file(f"budget {self.budget_s:.0f} s: {per_epoch:.1f} s per epoch -> "
                                       f"{self.num_epochs} epochs")
        self.on_train_end()

    def perform_actual_validation(self, save_probabilities: bool = False):
        self.inference_allowed_mirroring_axes = None
        super().perform_actual_validation(save_probabilities)
