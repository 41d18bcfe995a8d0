"""`python -m dashboards.best study=NAME input=DIR output=DIR [direction=b2a] [mlflow.tracking_uri=...]`

Paints a folder of your photos with the best trial's generators, as registered in the MLflow Model
Registry by the study (`catholic2gogh-<study>`, the version with the alias `best`: the best trial over
every launch). The direction defaults to the one the
study optimised (`fid_b2a` -> b2a: photo -> painting in the official painting sets). The painting itself
is done by `cyclegan.translate`, run as a command, so this package imports no training code.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient

from cyclegan.cli import run_main
from cyclegan.configtools import UserError
from cyclegan.photos import photos_to_paint

from .report import default_tracking_uri
from .runs import run_artifacts


def main(args: list[str]) -> None:
    opts = {}
    for item in args:
        key, sep, value = item.partition("=")
        if not sep or key not in {"study", "input", "output", "direction", "mlflow.tracking_uri", "study.out_dir", "max_side",
                                  "overwrite"}:
            raise UserError(f"unknown argument {item!r}; use study= input= output= [direction=a2b|b2a] "
                            "[mlflow.tracking_uri=] [max_side=] [overwrite=true]")
        opts[key] = value
    for key in ("study", "input", "output"):
        if key not in opts:
            raise UserError(f"{key}= is required; usage: python -m dashboards.best study=NAME input=DIR output=DIR")
    photos_to_paint(Path(opts["input"]))  # before the registry is read: a wrong folder is the likeliest mistake
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client = MlflowClient(default_tracking_uri(opts))
    name = f"catholic2gogh-{opts['study']}"
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except Exception as exc:
        raise UserError(f"cannot read the model registry at {default_tracking_uri(opts)} ({str(exc)[:160]})") from None
    if not versions:
        raise UserError(f"no registered model {name}; run the study to the end first (it registers the best trial)")
    try:  # the study's best over every launch; registries written before the alias: the newest version
        latest = client.get_model_version_by_alias(name, "best")
    except Exception:
        latest = max(versions, key=lambda v: int(v.version))
    direction = opts.get("direction")
    if direction is None:
        parent = client.get_run(latest.run_id).data.tags.get("mlflow.parentRunId")
        metric = client.get_run(parent).data.params.get("study.metric", "fid_b2a") if parent else "fid_b2a"
        direction = "a2b" if metric.endswith("a2b") else "b2a"
    with tempfile.TemporaryDirectory() as tmp:
        artifact = latest.source.rstrip("/").rsplit("/", 1)[-1]  # final_generators (best_generators before)
        local = run_artifacts(client, default_tracking_uri(opts), latest.run_id)
        folder = str(local / artifact) if local is not None else client.download_artifacts(latest.run_id, artifact, tmp)
        command = [sys.executable, "-m", "cyclegan.translate", f"checkpoint={folder}/generators.pt",
                   f"input={opts['input']}", f"output={opts['output']}", f"direction={direction}"]
        for key in ("max_side", "overwrite"):  # translate itself refuses an output inside input
            if key in opts:
                command.append(f"{key}={opts[key]}")
        print(f"painting with {name} version {latest.version} (run {latest.run_id}), direction {direction}", flush=True)
        done = subprocess.run(command)
    if done.returncode:
        sys.exit(done.returncode)


if __name__ == "__main__":
    sys.exit(run_main(main, usage=__doc__))
