"""The platform's parts keep their one-way import rules (issue 32): the contracts in pyproject.toml
(`[tool.importlinter]`) hold for this tree, and a breach of them is caught, not only described."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

LINT = Path(sys.executable).with_name("lint-imports")
pytestmark = pytest.mark.skipif(not LINT.is_file(), reason="import-linter is not installed (pip install -e '.[dev]')")


def lint(tree: Path) -> subprocess.CompletedProcess:
    # the tree given first on the path, so that a copy is checked and not the installed package
    env = {"PATH": str(LINT.parent), "PYTHONPATH": str(tree), "HOME": str(tree)}
    return subprocess.run([str(LINT), "--no-cache", str(tree / "pyproject.toml")], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)


def copy_of_the_code(tmp_path: Path) -> Path:
    for part in ("cyclegan", "tuning", "dashboards"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("module, line, contract", [
    # a deferred import inside a function counts: how results are judged must not reach Optuna
    ("tuning/results/objective.py", "def _breach():\n    import optuna\n", "import no Ray, Optuna or MLflow"),
    # the state a resume reads reaching up into the launcher's process code
    ("tuning/state/trial_records.py", "from tuning.run import interrupts\n", "entry points -> run"),
    # search and tracking never import each other
    ("tuning/search/scheduler.py", "from tuning.tracking import parent_run\n", "entry points -> run"),
    ("cyclegan/losses.py", "import tuning\n", "the engine knows nothing of the platform"),
    ("dashboards/runs.py", "from tuning.state import trial_records\n", "dashboards use only"),
])
def test_a_breach_of_a_contract_fails_the_check(tmp_path, module, line, contract):
    tree = copy_of_the_code(tmp_path)
    with open(tree / module, "a") as f:
        f.write("\n\n" + line)
    done = lint(tree)
    assert done.returncode != 0, done.stdout[-3000:]
    broken = done.stdout.split("Broken contracts")[-1]
    assert contract in " ".join(broken.split()), done.stdout[-3000:]
