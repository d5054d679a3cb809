"""Model archives: export, verified install, and the damaged, altered and path-traversal zips that must install
nothing."""
import json
import zipfile

import pytest

from tests.conftest import run_cli
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.model_archive import MANIFEST, export_model, install_model, model_folder_of, read_manifest
from unisegdiff_pipeline.sharing import install_main

MODEL = "UniSegDiffTrainer__usd_plans_cpu"


def fake_model(root):
    """A model folder with two folds (checkpoints as random bytes; the archive does not look inside them)."""
    folder = root / "Dataset903_Synthetic" / MODEL
    for fold in ("0", "1"):
        f = folder / f"fold_{fold}"
        (f / "validation").mkdir(parents=True)
        (f / "checkpoint_final.pth").write_bytes(bytes(range(256)) * 40 + fold.encode())
        (f / "model_record.json").write_text(json.dumps({"fold": fold}))
        (f / "plans.json").write_text("{}")
        (f / "validation" / "summary.json").write_text("{}")
        (f / "checkpoint_latest.pth").write_bytes(b"not exported")
    return folder


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_then_install_reproduces_the_chosen_folds(tmp_path):
    folder = fake_model(tmp_path / "trained")
    archive = export_model(folder, ["0", "1"], "final", tmp_path / "model.zip")
    manifest = read_manifest(archive)
    assert manifest["model"] == MODEL and manifest["folds"] == ["0", "1"]
    assert f"Dataset903_Synthetic/{MODEL}/fold_1/checkpoint_final.pth" in manifest["files"]
    assert not any("latest" in m for m in manifest["files"])
    target = install_model(archive, tmp_path / "results")
    assert target == tmp_path / "results" / "Dataset903_Synthetic" / MODEL
    expected = {k: v for k, v in tree(folder).items() if "latest" not in k}
    assert tree(target) == expected
    with pytest.raises(USDError, match="exists; nothing was installed. Fix: pass --overwrite"):
        install_model(archive, tmp_path / "results")
    (target / "fold_0" / "plans.json").write_text("edited")
    install_model(archive, tmp_path / "results", overwrite=True)
    assert tree(target) == expected
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["Dataset903_Synthetic"]  # no staging left
    with model_folder_of(archive) as unpacked:
        assert tree(unpacked) == expected


def rewrite(archive, out, change):
    """A copy of `archive` with change(name, data) -> data or None (drop) applied to each member."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = change(name, src.read(name))
            if data is not None:
                dst.writestr(name, data)
    return out


@pytest.mark.parametrize("damage", ["truncated", "altered", "traversal", "absolute", "unlisted", "no_manifest"])
def test_a_damaged_or_hostile_archive_installs_nothing(tmp_path, damage, capsys, monkeypatch):
    archive = export_model(fake_model(tmp_path / "trained"), ["0"], "final", tmp_path / "model.zip")
    bad = tmp_path / "bad.zip"
    if damage == "truncated":
        bad.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    elif damage == "altered":
        rewrite(archive, bad, lambda n, d: d[:-1] + b"X" if n.endswith("checkpoint_final.pth") else d)
    elif damage in ("traversal", "absolute"):
        evil = "../../evil.txt" if damage == "traversal" else "/tmp/evil.txt"

        def add(name, data):
            if name == MANIFEST:
                manifest = json.loads(data)
                manifest["files"][evil] = "0" * 64
                return json.dumps(manifest)
            return data
        rewrite(archive, bad, add)
        with zipfile.ZipFile(bad, "a") as z:
            z.writestr(evil, "evil")
    elif damage == "unlisted":
        rewrite(archive, bad, lambda n, d: d)
        with zipfile.ZipFile(bad, "a") as z:
            z.writestr(f"Dataset903_Synthetic/{MODEL}/extra.py", "print('hi')")
    else:
        rewrite(archive, bad, lambda n, d: None if n == MANIFEST else d)
    results = tmp_path / "results"
    monkeypatch.setenv("USD_results", str(results))
    assert run_cli(install_main, [str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "nothing was installed" in err[0]
    assert not results.exists() or not any(results.rglob("*"))
    assert not (tmp_path / "evil.txt").exists() and not any(tmp_path.parent.glob("evil.txt"))
