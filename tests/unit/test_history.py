"""One history per study (issue 13): a continuation under other settings is refused naming the keys; keys
that only say where or how fast may change; trial names go on from the study's highest number."""
from types import SimpleNamespace

import optuna
import pytest

from cyclegan.configtools import UserError
from tuning.history import check_continuation, record_settings, trials_before
from tuning.study import STUDIES_DIR, load_study


def stored(overrides=()):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    history = optuna.create_study()  # a real (in-memory) Optuna study
    record_settings(load_study("smoke", list(overrides)), history)
    return history


@pytest.mark.parametrize("change, named", [
    (["model.ngf=12"], "model.ngf (8 -> 12)"),
    (["train.epochs=3"], "train.epochs"),
    (["study.metric=kid"], "study.metric"),
])
def test_a_continuation_under_other_settings_is_refused_naming_the_key(change, named):
    history = stored()
    with pytest.raises(UserError, match="was run with other settings") as refused:
        check_continuation(load_study("smoke", change), history)
    assert named in str(refused.value)


def test_a_changed_search_space_is_refused(tmp_path):
    history = stored()
    text = (STUDIES_DIR / "smoke.yaml").read_text()
    (tmp_path / "smoke.yaml").write_text(text.replace("search:", "search:\n  optim.beta1: {categorical: [0.0, 0.5]}"))
    with pytest.raises(UserError, match=r"search\.optim\.beta1 \(unset -> "):
        check_continuation(load_study(str(tmp_path / "smoke.yaml")), history)


def test_where_and_how_fast_may_change_and_new_studies_pass():
    history = stored()
    check_continuation(load_study("smoke", ["train.threads=1", "train.device=cpu", "study.num_samples=9",
                                            "trial.cpus=2", "eval.batch_size=4"]), history)
    check_continuation(load_study("smoke", ["model.ngf=12"]), None)  # no stored study yet
    check_continuation(load_study("smoke", ["model.ngf=12"]), optuna.create_study())  # stored before settings
    record_settings(load_study("smoke", ["model.ngf=12"]), history)  # the first record stays
    with pytest.raises(UserError, match="model.ngf"):
        check_continuation(load_study("smoke", ["model.ngf=12"]), history)


def test_trial_names_go_on_from_the_highest_number():
    def run(name):
        return SimpleNamespace(info=SimpleNamespace(run_name=name))
    assert trials_before([]) == 0
    assert trials_before([run("t0002 lcyc=3"), run("t0004 lcyc=1"), run("study smoke"), run(None)]) == 4
    study = load_study("smoke")
    study.trials_before = 4
    assert study.run_name(1, {"loss.lambda_cyc": 2.0}).startswith("t0005 lcyc=2")
