"""The documentation's commands run as written: every `usd_*` line parses with its command's own parser and names
real trainers, converters and presets; the Python blocks run."""
import re
import shlex
from pathlib import Path

import pytest

from dataset_conversion.cli import CONVERTERS, build_parser as convert_parser
from planning.cli import build_parser as plan_parser
from planning.planner import PRESETS
from unisegdiff_pipeline.demo import build_parser as demo_parser
from unisegdiff_pipeline.evaluation.cli import build_parser as evaluate_parser
from unisegdiff_pipeline.inference.predict import build_parser as predict_parser
from unisegdiff_pipeline.inference.find_best_cli import build_parser as find_best_parser
from unisegdiff_pipeline.sharing import export_parser, install_parser
from unisegdiff_pipeline.training.run import build_parser as train_parser
from unisegdiff_pipeline.training.trainers import get_trainer

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "documentation").glob("*.md")) + [REPO / "README.md"]
PARSERS = {"usd_convert_dataset": convert_parser, "usd_plan_and_preprocess": plan_parser, "usd_train": train_parser,
           "usd_predict": predict_parser, "usd_evaluate": evaluate_parser, "usd_demo": demo_parser,
           "usd_export_model": export_parser, "usd_install_model": install_parser,
           "usd_find_best_configuration": find_best_parser}
LOOP_VARIABLES = {"$f": "0", "$d": "500", "$tr": "UniSegDiffTrainer", "$SLURM_ARRAY_TASK_ID": "0", "$k": "0"}


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(), flags=re.S)


def commands() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for block in blocks(path, "bash"):
            text = block.replace("\\\n", " ")
            for line in text.splitlines():
                line = line.split("#")[0].strip().removeprefix("for tr in").strip()
                line = re.sub(r"^do\s+", "", line).rstrip(";").removesuffix("; done").strip()
                for part in line.split("&&"):
                    part = part.strip()
                    for var, value in LOOP_VARIABLES.items():
                        part = part.replace(var, value)
                    part = re.sub(r"^([A-Z_]+=\S+\s+)+", "", part).rstrip("&").strip()  # CUDA_VISIBLE_DEVICES=0 cmd &
                    if part.split(" ")[0] in PARSERS:
                        found.append((path.name, part))
    return found


def test_documentation_has_commands():
    names = {c.split()[0] for _, c in commands()}
    assert names >= {"usd_convert_dataset", "usd_plan_and_preprocess", "usd_train", "usd_predict", "usd_evaluate"}


@pytest.mark.parametrize("doc,command", commands())
def test_documented_command_parses(doc, command):
    argv = shlex.split(command)
    args = PARSERS[argv[0]]().parse_args(argv[1:])  # exits (fails the test) on an unknown option
    if argv[0] == "usd_convert_dataset":
        assert args.converter in CONVERTERS
    if getattr(args, "trainer", None) and argv[0] in ("usd_train", "usd_predict", "usd_evaluate", "usd_export_model"):
        get_trainer(args.trainer)
    if argv[0] == "usd_plan_and_preprocess":
        assert args.preset in PRESETS


def test_trainer_examples_define_working_trainers(monkeypatch):
    for path in DOCS:
        for block in blocks(path, "python"):
            if "UniSegDiffTrainer" not in block or "class " not in block:  # trainer definitions only
                continue
            namespace: dict = {}
            exec(block, namespace)
            from unisegdiff_pipeline.training.trainers.base import UniSegDiffTrainer
            defined = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, UniSegDiffTrainer)
                       and v is not UniSegDiffTrainer]
            assert defined, path
            for cls in defined:
                for attr in ("architecture_changes", "training_changes", "inference_changes", "epochs_override"):
                    assert isinstance(getattr(cls, attr), dict)


def test_plan_editing_snippet_runs(usd_env, monkeypatch):
    import json

    from planning.planner import plan_experiment
    from unisegdiff_pipeline.typed_config import to_dict

    stats = {"mean": [1.0], "std": [1.0], "min": [0.0], "max": [1.0], "percentile_00_5": [0.0], "percentile_99_5": [1.0]}
    fp = {"tasks": {"A": {"num_cases": 8, "modality": "CT", "channels": 1, "intensity_lesion": stats,
                          "intensity_image": stats}}}
    folder = usd_env["preprocessed"] / "Dataset500_Unified"
    folder.mkdir()
    (folder / "usd_plans.json").write_text(json.dumps(to_dict(plan_experiment("Dataset500_Unified", fp, "cpu"))))
    snippet = [b for b in blocks(REPO / "documentation" / "reproducing_the_paper.md", "bash") if "python - <<'PY'" in b][0]
    exec(snippet.split("<<'PY'\n")[1].split("PY\n")[0], {})
    made = json.loads((folder / "usd_plans_t600_300.json").read_text())
    assert made["plans_name"] == "usd_plans_t600_300"
    assert made["configurations"]["2d"]["inference"]["low_threshold"] == 300
