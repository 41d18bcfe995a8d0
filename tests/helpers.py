"""Test helpers: tiny configurations and running the command-line entry points."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
MONET_MINI = ROOT.parent / "shared" / "data" / "monet2photo_mini"

# A tiny engine configuration: 32 px, a 2-block ResNet, tiny FID backbone. Seconds per epoch on a CPU.
TINY = ["data.name=synthetic", "data.load_size=36", "data.crop_size=32", "data.synthetic_train_size=16",
        "data.synthetic_test_size=12", "model.ngf=8", "model.ndf=8", "model.g_depth=2", "train.epochs=1",
        "train.decay_epochs=1", "train.batch_size=4", "train.pool_size=4", "eval.backbone=tiny",
        "eval.batch_size=8", "eval.grid_images=3", "eval.kid_subsets=10", "train.threads=1"]


def run_cli(module: str, *args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd or ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2, exactly one line on stderr, no traceback, and the line names what it should."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
