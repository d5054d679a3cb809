"""benchmarks/recipe_tables.py: the diffusion rows keep DNet phases of different lengths apart."""
from benchmarks.recipe_tables import diffusion_rows


def _run(recipe: str, dnet_steps: int | None, dice: list[float]) -> dict:
    run = {"set": "Kvasir", "recipe": "reference_like", "seed": 1, "dnet_recipe": recipe, "cfenet": "Kvasir/r/s1",
           "steps": 3612 if dnet_steps == 3600 else 1204, "seconds_per_step": 0.7, "case_dice": dict(zip("abcd", dice))}
    return run if dnet_steps is None else {**run, "dnet_steps": dnet_steps}


def test_a_longer_dnet_phase_is_a_row_of_its_own_paired_with_the_paper_dnet_of_its_length():
    state = {"base_dnet_recipe": "paper",
             "factors": {"Kvasir/r/s1": {"case_dice": dict(zip("abcd", [0.5, 0.6, 0.7, 0.8]))}},
             "diffusion": {"1": _run("paper", None, [0.5, 0.6, 0.7, 0.8]),  # recorded before the option: 1200
                           "2": _run("wide", 1200, [0.6, 0.7, 0.8, 0.9]),
                           "3": _run("wide", 3600, [0.7, 0.8, 0.9, 1.0]),
                           "4": _run("paper", 3600, [0.4, 0.5, 0.6, 0.7])}}
    rows = diffusion_rows(state)
    assert [(r[1], r[4]) for r in rows] == [("paper", 1204), ("wide", 1204), ("wide", 3612), ("paper", 3612)]
    # each row is paired with the paper DNet of its own length: +10 points at 1,200 steps, +30 at 3,600
    assert rows[1][9].startswith("+10.0") and rows[2][9].startswith("+30.0")
    assert rows[2][7].startswith("+20.0")  # and with the CFENet it was trained on
