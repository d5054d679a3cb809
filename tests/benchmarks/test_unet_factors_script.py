"""benchmarks/unet_factors.py trains each variant on a prepared polyp work folder and writes what it printed."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from unisegdiff_pipeline.preprocessed import save_case

REPO = Path(__file__).resolve().parents[2]


def _work_folder(root: Path) -> Path:
    pre = root / "pre" / "Dataset602_Polyp"
    raw = root / "raw" / "Dataset602_Polyp" / "imagesTr"
    raw.mkdir(parents=True)
    (pre / "usd_plans_cpu_2d").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"Kvasir_{i}" for i in range(4)] + ["CVC-300_1"]
    for name in names:
        rgb = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
        mask = np.zeros((1, 128, 128), np.uint8)
        mask[0, 40:80, 40:80] = 1
        Image.fromarray(rgb).save(raw / f"{name}_0000.png")
        image = rgb.transpose(2, 0, 1).astype(np.float32)
        save_case(pre / "usd_plans_cpu_2d", name, (image - image.mean()) / image.std(), mask,
                  {"task": "ColonPolyp"})
    (pre / "splits_final.json").write_text(json.dumps([{"train": names[:3] + ["CVC-300_1"], "val": names[3:4]}]))
    return root


def test_two_steps_per_variant_table_and_json(tmp_path):
    work = _work_folder(tmp_path / "work")
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "unet_factors.py"), "--work", str(work),
                          "--steps", "2", "--variants", "zscore:group:fp32:flip", "raw01:batch:bf16:nnunet",
                          "--out-dir", str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    payload = json.loads((tmp_path / "unet_factors.json").read_text())
    assert (payload["train_cases"], payload["val_cases"]) == (3, 1)  # Kvasir cases only
    assert [(r["variant"], r["steps"]) for r in payload["rows"]] == [("zscore:group:fp32:flip", 2),
                                                                     ("raw01:batch:bf16:nnunet", 2)]
    for row in payload["rows"]:
        assert 0.0 <= row["val_dice"] <= 1.0
        assert f"{row['variant']:28s} {row['seconds']:8.1f} {row['last_loss']:10.4f} {row['val_dice']:9.4f}" \
            in run.stdout
    # another step count adds rows; the same variant at the same count replaces its row
    again = subprocess.run([sys.executable, str(REPO / "benchmarks" / "unet_factors.py"), "--work", str(work),
                            "--steps", "3", "--variants", "zscore:group:fp32:flip", "--out-dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert again.returncode == 0, again.stderr[-3000:]
    rows = json.loads((tmp_path / "unet_factors.json").read_text())["rows"]
    assert [(r["variant"], r["steps"]) for r in rows] == [("zscore:group:fp32:flip", 2), ("raw01:batch:bf16:nnunet", 2),
                                                          ("zscore:group:fp32:flip", 3)]


def test_missing_work_folder_names_the_fix(tmp_path):
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "unet_factors.py"), "--work", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode != 0 and "real_data.py" in run.stderr and "splits_final.json" in run.stderr
