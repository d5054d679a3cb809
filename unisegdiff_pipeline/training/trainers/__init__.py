"""Trainers looked up by name (`-tr`): built-ins, `<Trainer>_<N>epochs` short runs, and user trainers."""
from __future__ import annotations

import importlib.util
import inspect
import os
import re
from pathlib import Path

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.training.trainers import variants
from unisegdiff_pipeline.training.trainers.base import UniSegDiffTrainer

EXTRA_TRAINERS_ENV = "USD_extra_trainers"
_SHORT_RUN = re.compile(r"^(?P<base>[A-Za-z]\w*?)_(?P<epochs>\d+)epochs?$")
_dynamic: dict[str, type] = {}


def _classes_in(module) -> dict[str, type]:
    return {name: obj for name, obj in vars(module).items()
            if inspect.isclass(obj) and issubclass(obj, UniSegDiffTrainer) and obj.__module__ == module.__name__}


def _user_trainers() -> dict[str, type]:
    folder = os.environ.get(EXTRA_TRAINERS_ENV)
    if not folder:
        return {}
    found: dict[str, type] = {}
    for path in sorted(Path(folder).glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"usd_user_trainers.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise USDError(f"cannot import user trainer file {path} ({type(e).__name__}: {e}). Fix: correct it, or "
                           f"unset {EXTRA_TRAINERS_ENV}") from None
        found.update(_classes_in(module))
    return found


def known_trainers() -> dict[str, type]:
    """Every trainer by name: the built-ins, then those in the folder named by USD_extra_trainers."""
    out = {"UniSegDiffTrainer": UniSegDiffTrainer, **_classes_in(variants)}
    out.update(_user_trainers())
    return out


def get_trainer(name: str) -> type:
    """The trainer class of a name; `X_<N>epochs` is trainer X with N epochs in each of its phases."""
    trainers = known_trainers()
    if name in trainers:
        return trainers[name]
    m = _SHORT_RUN.match(name)
    if m and m.group("base") in trainers:
        if name not in _dynamic:
            n = int(m.group("epochs"))
            base = trainers[m.group("base")]
            _dynamic[name] = type(name, (base,), {"epochs_override": {"cfenet": n, "dnet": n},
                                                  "__doc__": f"{base.__name__} with {n} epochs per phase."})
        return _dynamic[name]
    raise USDError(f"unknown trainer '{name}'. Known trainers: {', '.join(sorted(trainers))}; any of them with the "
                   f"suffix _<N>epochs (e.g. UniSegDiffTrainer_5epochs) runs N epochs per phase; your own trainers go "
                   f"in the folder named by {EXTRA_TRAINERS_ENV}")
