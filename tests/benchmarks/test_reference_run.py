"""benchmarks/reference_run.py: the reference script runs as it is and each of its per-image Dice gets its file."""
import json
import subprocess
import sys

import pytest

from benchmarks.reference_run import reference_case_dice
from tests.conftest import REPO

# a stand-in with the reference's contract: loads image then mask for train and test, keeps the test Dice in `ds`
SCRIPT = '''
import sys, glob, os
from PIL import Image
def load(d):
    out = []
    for p in sorted(glob.glob(os.path.join(d, "*.png"))):
        if p.endswith("_mask.png"):
            continue
        Image.open(p); Image.open(p[:-4] + "_mask.png")
        out.append(p)
    return out
Xtr, Xte = load(sys.argv[1]), load(sys.argv[2])
ds = [0.1 * (i + 1) for i in range(len(Xte))]
print(f"test mDice over {len(ds)} images")
'''


def _pngs(folder, names):
    from PIL import Image

    folder.mkdir()
    for n in names:
        for suffix in ("", "_mask"):
            Image.new("L", (4, 4)).save(folder / f"{n}{suffix}.png")


def test_each_dice_is_named_by_its_test_image_and_the_script_prints_as_always(tmp_path):
    (tmp_path / "ref.py").write_text(SCRIPT)
    _pngs(tmp_path / "train", ["a", "b", "c"])
    _pngs(tmp_path / "test", ["y (1)", "z"])
    out = tmp_path / "per_image.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.reference_run", str(out), str(tmp_path / "ref.py"),
                          str(tmp_path / "train"), str(tmp_path / "test")], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert "test mDice over 2 images" in run.stdout
    images = json.loads(out.read_text())["images"]
    assert images == {str(tmp_path / "test" / "y (1).png"): 0.1, str(tmp_path / "test" / "z.png"): 0.2}
    assert reference_case_dice(images, ["Kvasir_y_1", "Kvasir_z", "Kvasir_zz"]) == {"Kvasir_y_1": 0.1, "Kvasir_z": 0.2}
    with pytest.raises(RuntimeError, match="matches 0 converted cases"):
        reference_case_dice(images, ["Kvasir_z"])


def test_a_script_that_breaks_the_contract_is_refused(tmp_path):
    (tmp_path / "ref.py").write_text("ds = [0.5]\n")  # a Dice with no image opened for it
    run = subprocess.run([sys.executable, "-m", "benchmarks.reference_run", str(tmp_path / "o.json"),
                          str(tmp_path / "ref.py")], capture_output=True, text=True, cwd=REPO)
    assert run.returncode != 0 and "no longer keeps its per-image Dice" in run.stderr
    assert not (tmp_path / "o.json").exists()
