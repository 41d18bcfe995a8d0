"""Every study file composes and validates; bad studies and overrides are refused with one line."""
import pytest

from cyclegan.configtools import UserError
from tests.helpers import assert_user_error, run_cli
from tuning.study import available_studies, load_study

EXPECTED = {"smoke", "lambda_sweep", "lr_sweep", "depth_sweep", "loss_ablation", "painters"}


def test_the_documented_studies_exist():
    assert EXPECTED <= set(available_studies())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_study_composes(name):
    study = load_study(name)
    assert study.description and study.search
    assert study.num_trials >= 1
    # every value of every searched key gives a valid engine config
    for dist in study.search.values():
        for value in dist.choices or [dist.low, dist.high]:
            cfg = study.engine_config({dist.name: value})
            assert cfg.total_epochs >= 1


def test_study_specifics():
    sweep = load_study("lambda_sweep")
    assert sweep.base_config().data.name == "vangogh2photo" and sweep.launch.study.metric == "fid_b2a"
    assert sweep.launch.study.scheduler == "asha"
    assert (sweep.search["loss.lambda_cyc"].kind, sweep.search["loss.lambda_cyc"].low) == ("loguniform", 1)
    assert sweep.search["loss.lambda_id"].low == 0  # "no identity" is inside the range
    assert sweep.baseline_point() == {"loss.lambda_cyc": 10.0, "loss.lambda_id": 5.0}
    assert load_study("lr_sweep").baseline_point() == {"optim.lr_g": 2e-4, "optim.lr_d": 2e-4, "optim.beta1": 0.5}
    depth = load_study("depth_sweep")
    assert depth.baseline_point() == {"arch": "resnet9", "model.ngf": 64}
    assert depth.engine_config({"arch": "keras6", "model.ngf": 32}).model.generator == "unet_keras"
    ablation = load_study("loss_ablation")
    assert ablation.is_grid and ablation.num_trials == 4 * 3 * 3
    cfg = ablation.engine_config({"arm": "cycle_only", "loss.gan_mode": "hinge", "__trial_index__": 2})
    assert (cfg.loss.lambda_gan, cfg.loss.gan_mode, cfg.train.seed) == (0.0, "hinge", 2)
    painters = load_study("painters")
    assert painters.num_trials == 12 and set(painters.search["data.name"].choices) == {
        "vangogh2photo", "monet2photo", "cezanne2photo", "ukiyoe2photo"}


def test_overrides_reach_engine_and_platform_keys():
    study = load_study("smoke", ["loss.lambda_gan=0.5", "study.num_samples=2", "trial.gpus=0.25", "mlflow.experiment=x"])
    assert study.base_config().loss.lambda_gan == 0.5
    assert (study.num_trials, study.launch.trial.gpus, study.experiment) == (2, 0.25, "x")


def test_run_names_show_the_searched_values():
    study = load_study("smoke")
    assert study.run_name(7, {"loss.lambda_cyc": 8.234, "loss.lambda_id": 0.5}) == "t0007 lcyc=8.23 lid=0.5"


@pytest.mark.parametrize("overrides, fragment", [
    (["loss.lamda_cyc=3"], "did you mean loss.lambda_cyc"),
    (["study.metrik=fid"], "did you mean study.metric"),
    (["study.num_samples=0"], "study.num_samples=0 must be at least 1"),
    (["trial.gpus=-1"], "trial.gpus=-1.0"),
    (["study.seeds=two"], "study.seeds"),
    (["study.seeds=3"], "study.scheduler=asha cannot"),
    (["model.generator=vgg"], "resnet, unet, unet_keras"),
    (["eval.every=0"], "needs evaluations"),
    (["data.crop_size=300"], "data.crop_size=300"),
])
def test_bad_overrides_are_refused(overrides, fragment):
    study = "lambda_sweep" if "study.seeds=3" in overrides else "smoke"
    with pytest.raises(UserError) as err:
        load_study(study, overrides)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text, fragment", [
    ("search:\n  loss.lambda_cyc: {uniform: [5, 1]}\nstudy: {num_samples: 2}\n", "low 5 > high 1"),
    ("search:\n  loss.lambda_cyc: {loguniform: [0, 1]}\nstudy: {num_samples: 2}\n", "low > 0"),
    ("search:\n  loss.lambda_cyc: {normal: [0, 1]}\nstudy: {num_samples: 2}\n", "must be one of"),
    ("search:\n  loss.lamda: {uniform: [0, 1]}\nstudy: {num_samples: 2}\n", "did you mean loss.lambda"),
    ("search:\n  model.generator: {categorical: [resnet, vgg]}\nstudy: {num_samples: 2}\n", "'vgg' is invalid"),
    ("search:\n  arm: {grid: {deep: {model.generator: unet, model.g_depth: 8}}}\ndata: {load_size: 64, crop_size: 64}\n",
     "too deep"),
    ("search:\n  a: {grid: {x: {}}}\n  loss.lambda_id: {uniform: [0, 1]}\nstudy: {num_samples: 2}\n", "grid cannot be mixed"),
    ("search:\n  loss.lambda_cyc: {uniform: [1, 2]}\n", "study.num_samples is required"),
    ("search:\n  loss.lambda_cyc: {uniform: [1, 2]\n", "line 2"),
    ("serch:\n  loss.lambda_cyc: {uniform: [1, 2]}\n", "did you mean search"),
])
def test_bad_study_files_are_refused(tmp_path, text, fragment):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_study(str(path))
    assert fragment in str(err.value), str(err.value)


def test_unknown_study_lists_the_available_ones():
    with pytest.raises(UserError, match="available: .*lambda_sweep.*smoke"):
        load_study("lamda_sweep")


@pytest.mark.parametrize("args, fragments", [
    (["study=nope"], ["unknown study 'nope'", "smoke"]),
    (["study=smoke", "loss.lamda_cyc=3"], ["did you mean loss.lambda_cyc"]),
    (["study=smoke", "resume=true"], ["holds no interrupted launch", "drop resume=true"]),
    (["study=smoke", "mlflow.tracking_uri=http://127.0.0.1:9"], ["mlflow.tracking_uri=http://127.0.0.1:9", "not reachable"]),
    (["study=smoke", "ray.address=127.0.0.1:9"], ["cannot reach ray.address=127.0.0.1:9"]),
    (["study=smoke", "study.out_dir=/proc/version/x"], ["not writable"]),
    (["loss.lambda_cyc=3"], ["study=NAME is required"]),
])
def test_launch_refuses_bad_input_before_starting(tmp_path, args, fragments):
    if not any(a.startswith("study.out_dir") for a in args):
        args = args + [f"study.out_dir={tmp_path / 'out'}"]
    assert_user_error(run_cli("tuning.launch", *args, timeout=120), *fragments)


def test_launch_list_and_help():
    listing = run_cli("tuning.launch", "list")
    assert listing.returncode == 0 and "lambda_sweep" in listing.stdout and "40 trials" in listing.stdout
    usage = run_cli("tuning.launch", "--help")
    assert usage.returncode == 0 and "study=NAME" in usage.stdout and "painters" in usage.stdout


def test_multi_node_cluster_with_local_state_is_refused():
    from tuning.launch import check_cluster_storage
    local = load_study("smoke")
    check_cluster_storage(local, 1)  # one machine: local state is fine
    with pytest.raises(UserError) as err:
        check_cluster_storage(local, 3)
    message = str(err.value)
    assert "3 nodes" in message and "study.shared_out_dir=true" in message
    assert "study.storage=postgresql:" in message and "mlflow.tracking_uri=http" in message
    shared = load_study("smoke", ["study.shared_out_dir=true", "study.storage=postgresql://u@db/optuna",
                                  "mlflow.tracking_uri=http://127.0.0.1:5000"])
    check_cluster_storage(shared, 3)
