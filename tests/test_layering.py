"""Layers point down: a walk over every module's imports fails when a rule is broken."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# (package of the importing file, forbidden import prefix, why)
RULES = [
    ("unisegdiff_pipeline.inference", "unisegdiff_pipeline.training", "inference never imports training"),
    ("unisegdiff_pipeline.evaluation", "unisegdiff_pipeline.training", "evaluation never imports training"),
    ("planning", "dataset_conversion", "planning never imports the converters"),
    ("unisegdiff_pipeline.networks", "unisegdiff_pipeline.diffusion", "networks never import diffusion"),
    ("unisegdiff_pipeline.networks", "unisegdiff_pipeline.training", "networks never import training"),
    ("unisegdiff_pipeline.diffusion", "unisegdiff_pipeline.inference", "diffusion never imports inference"),
    ("unisegdiff_pipeline.diffusion", "unisegdiff_pipeline.training", "diffusion never imports training"),
    ("unisegdiff_pipeline.plan", "unisegdiff_pipeline.networks", "the plan is on the base floor"),
    ("unisegdiff_pipeline.plan", "unisegdiff_pipeline.diffusion", "the plan is on the base floor"),
    ("unisegdiff_pipeline.plan", "unisegdiff_pipeline.training", "the plan is on the base floor"),
    ("unisegdiff_pipeline.model_record", "unisegdiff_pipeline.training", "the model record is on the base floor"),
    ("unisegdiff_pipeline.model_record", "unisegdiff_pipeline.inference", "the model record is on the base floor"),
    ("unisegdiff_pipeline", "planning", "the core never imports the commands above it"),
    ("unisegdiff_pipeline", "dataset_conversion", "the core never imports the commands above it"),
    ("unisegdiff_pipeline", "benchmarks", "the package never imports the benchmarks"),
    ("planning", "benchmarks", "the package never imports the benchmarks"),
    ("dataset_conversion", "benchmarks", "the package never imports the benchmarks"),
]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path) -> list[str]:
    """Every module a file imports, at any depth (lazy imports inside functions included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def files():
    for top in ("unisegdiff_pipeline", "planning", "dataset_conversion"):
        yield from sorted((REPO / top).rglob("*.py"))


def violations() -> list[str]:
    out = []
    for path in files():
        mod = module_name(path)
        for imported in imports(path):
            for where, forbidden, why in RULES:
                inside = mod == where or mod.startswith(where + ".")
                if inside and (imported == forbidden or imported.startswith(forbidden + ".")):
                    out.append(f"{mod} imports {imported}: {why}")
    return out


def test_no_layering_rule_is_broken():
    assert violations() == []


def test_the_walk_sees_lazy_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from unisegdiff_pipeline.training.run import main\n")
    assert imports(probe) == ["unisegdiff_pipeline.training.run"]


@pytest.mark.parametrize("where,forbidden,why", RULES)
def test_every_rule_names_existing_packages(where, forbidden, why):
    here = REPO / where.replace(".", "/")
    assert (here.is_dir() or here.with_suffix(".py").is_file()) and (REPO / forbidden.replace(".", "/")).is_dir()
