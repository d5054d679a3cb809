"""Planner: the plan's settings, normalisation by modality, batch size from GPU memory."""
import pytest

from planning.planner import PRESETS, estimate_batch_size, normalization_for, plan_experiment
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.plan import AUGMENTATION_PROFILES, Architecture
from unisegdiff_pipeline.typed_config import from_dict, to_dict


def task_fp(modality, channels=3, lesion_mean=100.0):
    stats = {"mean": [lesion_mean], "std": [20.0], "min": [0.0], "max": [255.0], "percentile_00_5": [30.0],
             "percentile_99_5": [200.0]}
    return {"num_cases": 40, "modality": modality, "channels": channels, "intensity_lesion": stats,
            "intensity_image": stats}


FP = {"tasks": {"BreastLesion": task_fp("ultrasound", 1), "ColonPolyp": task_fp("endoscopy", 3),
                "LungInfection": task_fp("CT", 1, -300.0)}}


def test_plan_holds_every_setting():
    plans = to_dict(plan_experiment("Dataset500_Unified", FP, "default", 24))
    cfg = plans["configurations"]["2d"]
    assert cfg["image_size"] == [256, 256] and cfg["num_input_channels"] == 3
    assert cfg["resize"]["rule"] == "stretch"
    assert set(cfg["normalization"]) == {"BreastLesion", "ColonPolyp", "LungInfection"}
    arch = cfg["architecture"]
    assert arch["cfenet"]["widths"] == [32, 64, 128, 256, 512] and arch["dnet"]["dca_levels"] == [4, 5]
    assert arch["dnet"]["dca_heads"] == 8 and arch["dnet"]["time_embedding_dim"] == 128
    assert arch["dnet"]["eps_parameterization"] == "direct"  # the paper's eps decoder
    assert cfg["diffusion"] == {"timesteps": 1000, "schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02,
                                "mask_space": "{-1,+1}"}
    tr = cfg["training"]
    assert tr["optimizer"] == "AdamW" and (tr["dnet"]["epochs"], tr["dnet"]["lr"]) == (300, 1e-4)
    assert tr["cfenet"]["lr_scheduler"] == tr["dnet"]["lr_scheduler"] == "cosine"  # the paper's, in both phases
    assert tr["staged"]["high_threshold"] == 600 and tr["staged"]["low_threshold"] == 300
    assert tr["staged"]["ratios"] == {"rapid": [1, 3], "probabilistic": [1, 1], "refinement": [3, 1]}
    assert tr["sampling"] == "task_sqrt"  # several tasks: drawn in proportion to the square roots of their sizes
    inf = cfg["inference"]
    assert (inf["num_samples"], inf["ddim_interval"], inf["eta"], inf["fusion"]) == (10, 30, 0.0, "staple")
    assert (inf["final_decoder"], inf["cfenet_weight"]) == ("eps", 0.0)  # the paper's sampling
    assert inf["staple"] == {"iterations": 20, "init_sensitivity": 0.9, "init_fpr": 0.1, "prior": 0.5}
    assert 2 <= cfg["batch_size"] <= 64


def test_grey_only_datasets_get_one_channel_and_single_tasks_uniform_sampling():
    plans = to_dict(plan_experiment("Dataset501_BUSI", {"tasks": {"BreastLesion": task_fp("ultrasound", 1)}}, "cpu"))
    cfg = plans["configurations"]["2d"]
    assert cfg["num_input_channels"] == 1 and cfg["training"]["sampling"] == "uniform"
    assert cfg["image_size"] == [128, 128] and cfg["batch_size"] == 16
    assert plans["plans_name"] == "usd_plans_cpu" and cfg["data_identifier"] == "usd_plans_cpu_2d"
    assert cfg["architecture"]["dnet"]["eps_parameterization"] == "v"  # short CPU budgets (documentation/method.md)


def test_normalization_by_modality():
    ct = normalization_for(task_fp("CT", 1, -300.0))
    assert ct == {"scheme": "ct", "lower": [30.0], "upper": [200.0], "mean": [-300.0], "std": [20.0]}
    assert normalization_for(task_fp("endoscopy")) == {"scheme": "zscore"}


def test_batch_size_follows_gpu_memory_and_image_size():
    arch = from_dict(Architecture, {"cfenet": {"widths": PRESETS["default"]["cfenet_widths"]},
                                    "dnet": {"widths": PRESETS["default"]["dnet_widths"], "dca_levels": [4, 5],
                                             "dca_heads": 8, "time_embedding_dim": 128}}, "the test")
    small, large = estimate_batch_size(arch, 3, 256, 8, 64), estimate_batch_size(arch, 3, 256, 80, 64)
    assert small["batch_size"] < large["batch_size"] <= 64
    assert estimate_batch_size(arch, 3, 512, 80, 64)["batch_size"] < large["batch_size"]
    assert small["activation_mib_per_sample"] > 100


def test_bad_preset_and_size():
    with pytest.raises(USDError, match="unknown preset"):
        plan_experiment("D", FP, "gpu-huge")
    with pytest.raises(USDError, match="positive multiple of 16"):
        plan_experiment("D", FP, "cpu", image_size=100)


def test_recipe_settings_come_from_the_preset():
    cfg = to_dict(plan_experiment("Dataset501_BUSI", {"tasks": {"BreastLesion": task_fp("ultrasound", 1)}},
                                  "cpu"))["configurations"]["2d"]
    preset = PRESETS["cpu"]
    assert cfg["architecture"]["cfenet"]["downsampling"] == preset["cfenet_downsampling"]
    tr = cfg["training"]
    for phase in ("cfenet", "dnet"):
        r = preset["phase_recipes"][phase]
        assert (tr[phase]["lr_scheduler"], tr[phase]["grad_clip_norm"]) == (r["lr_scheduler"], r["grad_clip_norm"])
        assert tr[phase]["augmentation"] == to_dict(AUGMENTATION_PROFILES[r["augmentation"]])
    assert isinstance(tr["seed"], int)
    inf = cfg["inference"]
    assert (inf["final_decoder"], inf["cfenet_weight"]) == (preset["final_decoder"], preset["cfenet_weight"])
    assert (inf["final_decoder"], inf["cfenet_weight"]) != ("eps", 0.0)  # the cpu preset's own sampling
    assert tr["cfenet_finetune_lr_factor"] == preset["cfenet_finetune_lr_factor"] > 0  # CFENet trains on with DNet


def test_default_preset_freezes_cfenet_like_the_paper():
    cfg = to_dict(plan_experiment("Dataset501_BUSI", {"tasks": {"BreastLesion": task_fp("ultrasound", 1)}},
                                  "default"))["configurations"]["2d"]
    assert cfg["training"]["cfenet_finetune_lr_factor"] == 0.0


def test_mirror_profile_turns_every_other_transform_off():
    mirror, nnunet = to_dict(AUGMENTATION_PROFILES["mirror"]), to_dict(AUGMENTATION_PROFILES["nnunet"])
    assert mirror["mirror_axes"] == [0, 1]
    assert all(v == 0 for k, v in mirror.items() if k.startswith("p_"))
    assert {k: v for k, v in mirror.items() if not k.startswith("p_")} == \
        {k: v for k, v in nnunet.items() if not k.startswith("p_")}


def test_per_task_normalization_uses_the_task_image_statistics():
    fp = task_fp("endoscopy", 3)
    assert normalization_for(fp, "per_task") == {"scheme": "task_zscore", "mean": [100.0], "std": [20.0]}
    assert normalization_for(fp) == {"scheme": "zscore"}
    assert normalization_for(task_fp("CT", 1), "per_task")["scheme"] == "ct"  # CT keeps its clipping rule
    with pytest.raises(USDError, match="per_image, per_task"):
        normalization_for(fp, "per_dataset")


def test_ct_tasks_can_be_normalised_like_the_others():
    ct = task_fp("CT", 1)
    assert normalization_for(ct, "per_task", "as_other") == {"scheme": "task_zscore", "mean": [100.0], "std": [20.0]}
    assert normalization_for(ct, "per_image", "as_other") == {"scheme": "zscore"}
    assert normalization_for(task_fp("endoscopy", 3), "per_task", "as_other")["scheme"] == "task_zscore"
    assert all(PRESETS[p]["ct_normalization"] == "ct" for p in PRESETS)  # the specification's CT scheme by default
    with pytest.raises(USDError, match="ct, as_other"):
        normalization_for(ct, "per_task", "hounsfield")
