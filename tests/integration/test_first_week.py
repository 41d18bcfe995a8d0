"""Rough edges a new user hits in the first week (issue 23): each mistake is one line that fits the command."""
import sqlite3

import pytest

from tests.helpers import assert_user_error, run_cli


@pytest.mark.parametrize("command", [["dashboards.best", "study=smoke"],
                                     ["cyclegan.translate", "checkpoint=/nonexistent/generators.pt"]])
def test_a_missing_or_empty_photo_folder_is_named_as_photos_to_paint(tmp_path, command):
    missing = assert_user_error(run_cli(*command, f"input={tmp_path / 'my_photos'}", f"output={tmp_path / 'out'}",
                                        cwd=tmp_path), "my_photos does not exist", "photos to paint")
    assert "trainA" not in missing and "data.root" not in missing
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a photo")
    empty = assert_user_error(run_cli(*command, f"input={tmp_path / 'empty'}", f"output={tmp_path / 'out'}",
                                      cwd=tmp_path), "no photos to paint in input=", ".jpg")
    assert "data.root" not in empty
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def damaged(path):
    """A real SQLite file cut to a third of its length (a full disk, a copy cut short)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    good = sqlite3.connect(path)
    good.executescript("CREATE TABLE experiments (x TEXT);" + "INSERT INTO experiments VALUES (hex(randomblob(500)));" * 200)
    good.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


@pytest.mark.parametrize("command", [["dashboards.report"], ["dashboards.compare", "study=other"],
                                     ["dashboards.best", "input=photos", "output=painted"]])
def test_a_truncated_mlflow_store_is_one_line_in_every_command_that_reads_it(tmp_path, command):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(b"")  # a photo file to get past the input check
    db = damaged(tmp_path / "runs" / "studies" / "smoke" / "mlflow.db")
    before = db.read_bytes()
    assert_user_error(run_cli(*command[:1], "study=smoke", *command[1:], cwd=tmp_path), "mlflow.db is damaged",
                      "restore it from a backup")
    assert db.read_bytes() == before  # read-only: nothing migrated or rewritten
    (tmp_path / "runs" / "studies" / "smoke" / "mlflow.db").write_bytes(b"just text, not a database at all" * 40)
    assert_user_error(run_cli(*command[:1], "study=smoke", *command[1:], cwd=tmp_path), "is damaged or not a database")


def test_a_truncated_optuna_storage_is_one_line_in_the_report(tmp_path):
    from tests.integration.test_dashboards import make_store
    out = make_store(tmp_path, "stored", [("a", {"dataset": "synthetic", "eval.backbone": "tiny"}, [5.0])])
    bad = damaged(tmp_path / "optuna.db")
    assert_user_error(run_cli("dashboards.report", "study=stored", f"study.out_dir={out}", f"study.storage=sqlite:///{bad}",
                              cwd=tmp_path), "study.storage", "optuna.db is damaged")


def test_a_torchvision_from_another_torch_release_is_one_line_naming_the_install(tmp_path):
    """A mismatched pair cannot be installed here, so a stand-in torchvision package on PYTHONPATH raises
    what a torchvision built for another torch raises when its compiled ops register (a mock, and only of
    that import); the first run must say which install command fixes it."""
    from tests.helpers import ROOT, TINY
    fake = tmp_path / "fake" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    result = run_cli("cyclegan.train", *TINY, f"train.out_dir={tmp_path / 'run'}",
                     env={"PYTHONPATH": f"{tmp_path / 'fake'}:{ROOT}"})
    assert_user_error(result, "torchvision are from different releases", "pip install torch==2.14.1 torchvision==0.29.1")


def test_the_first_run_prints_what_it_changed_not_the_whole_config(tmp_path):
    from tests.helpers import TINY
    result = run_cli("cyclegan.train", *TINY, f"train.out_dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    config = next(line for line in lines if line.startswith("config: "))
    assert "model.g_depth=2" in config and "train.threads=1" in config and "config.yaml" in config
    assert "model.norm" not in config  # a default: only in config.yaml
    assert not any(line.startswith(("data:", "  name:", "model:")) for line in lines)  # no YAML dump
    assert "(1 CPU thread)" in result.stdout
    assert len(lines) < 20
