"""DDP: two processes with the gloo backend on the CPU hold the same weights after a step."""
import json
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.conftest import DATASET, PLANS, run_cli, short_validation
from unisegdiff_pipeline.training.run import free_port


def _rank(rank, world, port, root, phase, out):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), USD_raw=str(root / "raw"), USD_preprocessed=str(root / "pre"),
                      USD_results=str(root / "res"))
    dist.init_process_group("gloo")
    try:
        from unisegdiff_pipeline.training.run import build_parser, make_trainer
        from unisegdiff_pipeline.training.data import PreprocessedCases, TrainingLoader

        trainer = make_trainer(build_parser().parse_args(["0", "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer"]))
        trainer.initialize()
        trainer._start_phase(phase)
        net = trainer.cfenet if phase == "cfenet" else trainer.dnet
        before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
        data = PreprocessedCases(trainer.data_folder, trainer.train_cases[rank::world])  # different data per rank
        batch = next(iter(TrainingLoader(data, 4, "uniform", None, trainer.image_size)))
        images, target = trainer._to_device(batch)
        step = trainer.train_step_cfenet if phase == "cfenet" else trainer.train_step_dnet
        torch.manual_seed(rank)  # different timesteps and noise per rank too
        loss, _ = step(images, target)
        trainer._optimize(loss)
        after = torch.cat([p.detach().flatten() for p in net.parameters()])
        json.dump({"sum": after.double().sum().item(), "abs": after.double().abs().sum().item(),
                   "changed": (after - before).abs().max().item(), "first": after[:50].tolist()},
                  open(out / f"rank{rank}_{phase}.json", "w"))
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_hold_the_same_weights_after_a_step(tiny_env):
    for phase in ("cfenet", "dnet"):
        mp.spawn(_rank, args=(2, free_port(), tiny_env, phase, tiny_env), nprocs=2)
        r0 = json.loads((tiny_env / f"rank0_{phase}.json").read_text())
        r1 = json.loads((tiny_env / f"rank1_{phase}.json").read_text())
        assert r0["changed"] > 0
        assert r0["first"] == r1["first"] and r0["sum"] == r1["sum"] and r0["abs"] == r1["abs"]


def test_num_gpus_spawns_ranks_and_only_rank_0_writes(tiny_env):
    short_validation(tiny_env)
    assert run_cli(__import__("unisegdiff_pipeline.training.run", fromlist=["main"]).main,
                   ["0", "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_1epochs", "--num-gpus", "2",
                    "--device", "cpu"]) == 0
    out = tiny_env / "res" / DATASET / f"UniSegDiffTrainer_1epochs__{PLANS}" / "fold_0"
    assert (out / "checkpoint_final.pth").is_file() and (out / "validation" / "summary.json").is_file()
    log = (out / "training_log.txt").read_text()
    assert "2 processes" in log and log.count("cfenet epoch 1/1") == 1  # one writer
