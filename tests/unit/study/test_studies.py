"""Every study file composes and validates; bad studies and overrides are refused with one line."""
from pathlib import Path

import pytest

from cyclegan.configtools import UserError
from tests.helpers import assert_user_error, run_cli
from tuning.results.race_design import design
from tuning.results.noise import NoiseModel
from tuning.results.race import detectable_gain
from tuning.state.storage import optuna_storage
from tuning.study.loading import available_studies, load_study
from tuning.state.trial_records import TrialRecord, TrialRecords

EXPECTED = {"smoke", "lambda_sweep", "lr_sweep", "depth_sweep", "loss_ablation", "painters", "tuner_check",
            "data_efficiency"}


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
    assert sweep.num_trials == 40 + 2  # the reference settings run with 3 seeds: 2 extra trials
    assert sweep.launch_trials(continuing=True) == 40  # a continuation does not queue them again
    assert sweep.num_trials == 42  # the study's size: not changed by any launch
    ablation = load_study("loss_ablation")
    assert ablation.is_grid and ablation.num_trials == (1 + 5 * 3) * 3  # cycle alone + 5 rows x 3 gan modes
    cfg = ablation.engine_config({"arm": "gan_forward_cycle_hinge", "__trial_index__": 2})
    assert (cfg.loss.cyc_a, cfg.loss.cyc_b, cfg.loss.lambda_id, cfg.loss.gan_mode, cfg.train.seed) == (
        10.0, 0.0, 0.0, "hinge", 2)
    alone = ablation.engine_config({"arm": "cycle_alone"}).loss
    assert (alone.lambda_gan, alone.lambda_id, alone.cyc_a, alone.cyc_b) == (0.0, 0.0, 10.0, 10.0)
    gan_alone = ablation.engine_config({"arm": "gan_alone_vanilla"}).loss
    assert (gan_alone.cyc_a, gan_alone.cyc_b, gan_alone.lambda_id, gan_alone.gan_mode) == (0.0, 0.0, 0.0, "vanilla")
    assert ablation.is_reference({"arm": "full_lsgan", "__trial_index__": 1})
    assert not ablation.is_reference({"arm": "full_hinge"})
    painters = load_study("painters")
    assert painters.num_trials == 12 and set(painters.search["data.name"].choices) == {
        "vangogh2photo", "monet2photo", "cezanne2photo", "ukiyoe2photo"}


def test_overrides_reach_engine_and_platform_keys():
    study = load_study("smoke", ["loss.lambda_gan=0.5", "study.num_samples=2", "trial.gpus=0.25", "mlflow.experiment=x"])
    assert study.base_config().loss.lambda_gan == 0.5
    assert (study.num_trials, study.launch.trial.gpus, study.experiment) == (2, 0.25, "x")


def test_a_searched_key_set_on_the_command_line_is_fixed_not_searched():
    """`loss.lambda_id=5` on tuner_check: the engine runs every trial at 5 and TPE searches lambda_cyc alone
    (before, the search silently overrode the command line)."""
    study = load_study("tuner_check", ["loss.lambda_id=5"])
    assert list(study.search) == ["loss.lambda_cyc"] and study.base_config().loss.lambda_id == 5
    assert set(load_study("tuner_check").search) == {"loss.lambda_cyc", "loss.lambda_id"}
    with pytest.raises(UserError, match="leaves nothing to search"):
        load_study("tuner_check", ["loss.lambda_id=5", "loss.lambda_cyc=10"])


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
    with pytest.raises(UserError, match="did you mean study=lambda_sweep\\? available: .*lambda_sweep.*smoke"):
        load_study("lamda_sweep")
    with pytest.raises(UserError) as far:
        load_study("zzzz")
    assert "did you mean" not in str(far.value)


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
    assert listing.returncode == 0 and "lambda_sweep" in listing.stdout and "42+27 trials" in listing.stdout
    # what each study costs: trials x epochs x images, and GPU-hours where it needs a GPU
    lines = [" ".join(line.split()) for line in listing.stdout.splitlines()]
    assert any(line.startswith("lambda_sweep 42+27 trials x 50 epochs x 6,287 images: at most ~") for line in lines)
    assert "smoke 4+8 trials x 2 epochs x 32 images, CPU" in lines  # search + the confirmation race's budget
    # what each confirmation can see, before anything runs
    assert "confirmation: up to 27 runs; detects a gain of 1.7 σ or more (80 % power; σ: one run's seed noise)" in lines
    assert "data_efficiency 18 trials x ~40,000 images trained each: ~25 GPU-h" in lines
    # a description's first sentence, not cut at an abbreviation ("Zhu et al. 2017")
    assert "Which loss terms matter, and for which GAN objective?" in lines
    starts = {line.index(line.split()[1]) for line in listing.stdout.splitlines() if line[:1].isalpha()}
    assert len(starts) == 1  # the figures line up under each other
    usage = run_cli("tuning.launch", "--help")
    assert usage.returncode == 0 and "study=NAME" in usage.stdout and "painters" in usage.stdout


def test_multi_node_cluster_with_local_state_is_refused():
    from tuning.run.preflight import check_cluster_storage
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


def test_a_grid_with_duplicate_cells_is_refused(tmp_path):
    """gan_mode crossed with an arm without adversarial term trains one model three times."""
    path = tmp_path / "dup.yaml"
    path.write_text("search:\n  arm:\n    grid:\n      full: {}\n      cycle_only: {loss.lambda_gan: 0}\n"
                    "  loss.gan_mode: {grid: [lsgan, hinge]}\n")
    with pytest.raises(UserError, match="arm=cycle_only loss.gan_mode=lsgan and arm=cycle_only loss.gan_mode=hinge "
                                        "train the same model"):
        load_study(str(path))


def test_dry_run_lists_the_explicit_ablation_arms(tmp_path):
    result = run_cli("tuning.launch", "study=loss_ablation", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    trials = [line.split() for line in lines if line.startswith("  ") and line.strip()[:1].isdigit()]
    assert len(trials) == 48 and lines[-2].startswith("48 trials (16 configurations x 3 seed(s)), no duplicates")
    assert lines[-1].startswith("no confirmation stage (study.confirm_top=0)")  # its answer is the paired verdicts
    cells = [(t[1], t[2]) for t in trials]
    assert len(set(cells)) == 48  # every (arm, seed) once
    arms = {t[1].removeprefix("arm=") for t in trials}
    assert "cycle_alone" in arms and not any(a.startswith("cycle_alone_") for a in arms)  # gan_mode not crossed
    assert {"full_lsgan", "gan_alone_hinge", "gan_forward_cycle_vanilla", "gan_backward_cycle_lsgan"} <= arms
    forward = next(line for line in lines if "arm=gan_forward_cycle_lsgan" in line and "seed=0" in line)
    assert "loss.lambda_cyc_b=0.0" in forward and "loss.lambda_id=0.0" in forward
    assert sum("[reference]" in line for line in lines) == 3  # full_lsgan, three seeds
    assert not (tmp_path / "runs").exists()  # nothing started, nothing written
    # each arm's comparator, the arm one term away, with the term
    assert forward.endswith("vs no_identity_lsgan (loss.lambda_cyc_b)")
    gan_alone = next(line for line in lines if "arm=gan_alone_hinge" in line)
    assert gan_alone.endswith("vs no_identity_hinge (loss.lambda_cyc)")
    assert next(line for line in lines if "arm=cycle_alone" in line).endswith("vs no_identity_lsgan (loss.lambda_gan)")
    assert sum(" vs " in line for line in lines) == 45  # 15 arms x 3 seeds; full_lsgan has none


def test_every_ablation_comparator_is_one_term_away():
    from tuning.study.comparators import differing_keys
    study = load_study("loss_ablation")
    assert len(study.compare) == 15 and set(study.compare) | {"full_lsgan"} == set(study.search["arm"].choices)
    for arm, other in study.compare.items():
        assert len(differing_keys(study, arm, other)) == 1, (arm, other, differing_keys(study, arm, other))
    # the paper's rows compared with the full model would differ in two terms: the check sees it
    assert differing_keys(study, "gan_alone_lsgan", "full_lsgan") == ["loss.lambda_cyc", "loss.lambda_id"]
    assert differing_keys(study, "cycle_alone", "no_identity_vanilla") == ["loss.gan_mode", "loss.lambda_gan"]


@pytest.mark.parametrize("compare, fragment", [
    ("gan_alone: full", "gan_alone and full differ in loss.lambda_cyc, loss.lambda_id"),
    ("no_identity: fulll", "'fulll' is not an arm of search.arm"),
    ("no_identity: [full]", "compare must map each arm to the one arm"),
])
def test_a_comparator_more_than_one_term_away_is_refused(tmp_path, compare, fragment):
    path = tmp_path / "abl.yaml"
    path.write_text("search:\n  arm:\n    grid:\n      full: {}\n      no_identity: {loss.lambda_id: 0}\n"
                    "      gan_alone: {loss.lambda_cyc: 0, loss.lambda_id: 0}\n"
                    f"compare:\n  {compare}\n")
    with pytest.raises(UserError, match=fragment.replace("[", r"\[").replace("(", r"\(")):
        load_study(str(path))


def test_dry_run_of_the_data_efficiency_study_crosses_sizes_with_diffaugment(tmp_path):
    result = run_cli("tuning.launch", "study=data_efficiency", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    trials = [line for line in result.stdout.splitlines() if line.startswith("  ") and line.strip()[:1].isdigit()]
    cells = {}
    for line in trials:
        size = int(line.split("data.train_images=")[1].split()[0])
        policy = line.split("train.diffaugment=")[-1].split()[0] if "train.diffaugment=color" in line else "none"
        cells.setdefault(size, {}).setdefault(policy, []).append(line.split("seed=")[-1].split()[0])
        epochs = int(line.split(" train.epochs=")[1].split()[0]) if " train.epochs=" in line else 100
        assert size * 2 * epochs == 40_000  # every size trains on the same number of images (epochs + decay)
    assert len(cells) >= 3
    for size, arms in cells.items():  # each size with and without DiffAugment, on the same seeds
        assert set(arms) == {"none", "color,translation,cutout"} and arms["none"] == arms["color,translation,cutout"]
    assert "epochs per trial, by cell" in result.stdout
    study = load_study("data_efficiency")
    assert study.base_config().data.name == "vangogh2photo" and study.launch.study.seeds >= 3


def test_dry_run_of_a_sampled_study_lists_the_reference_seeds(tmp_path):
    result = run_cli("tuning.launch", "study=lambda_sweep", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seeds = [line.split("seed=")[1].split()[0] for line in result.stdout.splitlines() if "[reference]" in line]
    assert seeds == ["0", "1", "2"]
    assert "42 trials: the 3 above, then 39 proposed by TPE" in result.stdout


@pytest.mark.parametrize("overrides, fragment", [
    (["study.metric=loss_G"], "study.metric=loss_G is not an evaluation metric"),
    (["study.metric=l1_b2a", "data.name=folder", "data.root=/tmp"], "needs ground truth"),
    (["study.baseline_seeds=0"], "study.baseline_seeds=0 must be at least 1"),
])
def test_objective_and_noise_settings_are_checked(overrides, fragment):
    with pytest.raises(UserError, match=fragment):
        load_study("smoke", overrides)


@pytest.mark.parametrize("name", ["smoke:v2", "team/smoke", "o'keeffe", "-x"])
def test_study_names_that_mlflow_or_a_path_cannot_hold_are_refused_before_any_work(name, tmp_path):
    with pytest.raises(UserError, match="may hold only letters, digits"):
        load_study("smoke", [f"study.name={name}"])
    result = run_cli("tuning.launch", "study=smoke", f"study.name={name}", f"study.out_dir={tmp_path / 'o'}")
    assert_user_error(result, "may hold only letters")
    assert not (tmp_path / "o").exists()  # refused before anything was created


def test_a_second_launch_of_a_running_study_is_refused(tmp_path):
    """The nightly schedule fires while last night's launch still runs: the launcher's study lock refuses
    it before anything starts (the first launch is played by this test holding the lock)."""
    from tuning.state.study_lock import lock_study
    out = tmp_path / "out"
    out.mkdir()
    held, _ = lock_study(load_study("smoke", [f"study.out_dir={out}"]), "smoke-first")
    try:
        result = run_cli("tuning.launch", "study=smoke", "study.confirm_top=0", f"study.out_dir={out}", timeout=120)
        assert_user_error(result, "study smoke", "is already being run by pid", "(launch smoke-first)",
                          "wait for it to end")
        if (out / "optuna.db").exists():  # nothing of the second launch was started: it has no line
            from tuning.state.launches import launches_in
            from tuning.state.storage import optuna_storage
            assert launches_in(optuna_storage(f"sqlite:///{out / 'optuna.db'}"), ["smoke"]) == {}
    finally:
        held.close()


@pytest.mark.parametrize("store, fragment", [("optuna.db", "study.storage=sqlite"), ("mlflow.db", "mlflow.tracking_uri=sqlite")])
def test_a_damaged_store_is_one_line_before_anything_starts(tmp_path, store, fragment):
    """A truncated SQLite file (a full disk, a copy cut short) is named with what to do, not a traceback."""
    import sqlite3
    out = tmp_path / "out"
    out.mkdir()
    good = sqlite3.connect(out / store)
    good.executescript("CREATE TABLE t (x TEXT);" + "INSERT INTO t VALUES (hex(randomblob(500)));" * 200)
    good.close()
    data = (out / store).read_bytes()
    (out / store).write_bytes(data[: len(data) // 3])
    result = run_cli("tuning.launch", "study=smoke", "study.confirm_top=0", f"study.out_dir={out}", timeout=120)
    assert_user_error(result, fragment, "cannot be opened", "restore")


def file_tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("command", [
    ["dashboards.report", "study=does_not_exist"],
    ["tuning.launch", "study=smoke", "ray.address=127.0.0.1:9"],
    ["tuning.launch", "study=smoke", "mlflow.tracking_uri=http://127.0.0.1:9"],
    ["tuning.launch", "study=smoke", "data.name=folder", "data.root=photos"],
    ["cyclegan.train", "data.name=folder", "data.root=photos", "train.out_dir=runs/first"],
], ids=["report", "launch-ray", "launch-mlflow", "launch-data", "train-data"])
def test_a_refused_command_leaves_the_file_tree_as_it_was(tmp_path, command):
    """No store, folder or database is created by a command that then exits 2 (each check here comes after
    the out_dir check), and nothing (such as MLflow's INFO lines) precedes the one error line."""
    (tmp_path / "photos" / "trainA").mkdir(parents=True)  # a folder dataset with nothing in it
    (tmp_path / "notes.txt").write_text("the user's own file")
    before = file_tree(tmp_path)
    result = run_cli(*command, cwd=tmp_path, timeout=180)
    assert_user_error(result)
    assert file_tree(tmp_path) == before


def test_dry_run_says_what_the_confirmation_stage_will_run(tmp_path):
    result = run_cli("tuning.launch", "study=lambda_sweep", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("then confirmation: the top 2 configuration(s) race the reference settings on fresh seeds "
            "(1000, 1001, ...;") in result.stdout
    assert "looking after 3, 6, 9 seeds; at most 27 runs" in result.stdout
    # the smallest detectable improvement: in units of the seed noise before the study has measured it ...
    assert "smallest improvement it detects (80 % power): 1.74 σ" in result.stdout
    # ... and in the objective's units from the study's own history once it has one (the reference's 3 seeds
    # and a configuration repeated on 4: 2 + 3 degrees of freedom)
    out = tmp_path / "history"
    out.mkdir()
    storage = optuna_storage(f"sqlite:///{out / 'optuna.db'}")
    records = TrialRecords(storage, "lambda_sweep")
    values = [(10.0, 5.0, v) for v in (30.0, 30.4, 29.8)] + [(3.0, 1.0, v) for v in (28.0, 28.6, 28.2, 27.9)]
    for i, (lcyc, lid, v) in enumerate(values, 1):
        records.put(TrialRecord(f"t{i:04d}", "lambda_sweep", "search", {"loss.lambda_cyc": lcyc, "loss.lambda_id": lid},
                                status="complete", values={"50": v}))
    sigma = NoiseModel.of({"ref": [30.0, 30.4, 29.8], "c": [28.0, 28.6, 28.2, 27.9]}).sigma
    measured = run_cli("tuning.launch", "study=lambda_sweep", f"study.out_dir={out}", "--dry-run", cwd=tmp_path)
    assert measured.returncode == 0, measured.stderr
    gain = detectable_gain(sigma, design(load_study("lambda_sweep")))
    assert f"smallest improvement it detects (80 % power): {gain:.3g} fid_b2a" in measured.stdout
    assert "5 degrees of freedom, pooled over 2 configurations" in measured.stdout
    off = run_cli("tuning.launch", "study=lambda_sweep", "study.confirm_top=0", "--dry-run", cwd=tmp_path)
    assert "no confirmation stage (study.confirm_top=0)" in off.stdout
    assert_user_error(run_cli("tuning.launch", "study=smoke", "study.confirm_top=-1", cwd=tmp_path),
                      "study.confirm_top=-1 must be >= 0")
    assert_user_error(run_cli("tuning.launch", "study=smoke", "study.confirm_budget=5", cwd=tmp_path),
                      "study.confirm_budget=5 does not reach the race's first look")
    assert_user_error(run_cli("tuning.launch", "study=smoke", "study.target_effect=-1", cwd=tmp_path),
                      "study.target_effect=-1.0 must be a gain")
    assert_user_error(run_cli("tuning.launch", "study=smoke", "study.target_effect=0.2", "study.confirm_budget=12",
                              cwd=tmp_path), "set one of them")
    # a target effect sizes the budget from the history's measured noise, and the dry run says so
    target = run_cli("tuning.launch", "study=lambda_sweep", f"study.out_dir={out}", "study.target_effect=0.3",
                     "--dry-run", cwd=tmp_path)
    assert target.returncode == 0, target.stderr
    sized = design(load_study("lambda_sweep", ["study.target_effect=0.3"]), sigma=sigma)
    assert f"at most {sized.budget} runs (sized by study.target_effect=0.3 at σ = {sigma:.3g}" in target.stdout
    assert detectable_gain(sigma, sized) <= 0.3


def test_a_study_loaded_from_a_path_is_resumed_by_that_path(tmp_path):
    """`study=path/to/my.yaml`: the command that resumes it names the file, not a study in studies/ that
    does not exist (issue 30)."""
    from tuning.state.launches import resume_command
    mine = tmp_path / "my_sweep.yaml"
    mine.write_text((Path(__file__).resolve().parents[3] / "studies" / "smoke.yaml").read_text())
    study = load_study(str(mine), [f"study.out_dir={tmp_path / 'out'}"])
    assert study.name == "my_sweep"
    assert f"study={mine} " in resume_command(study)
    assert "study=smoke " in resume_command(load_study("smoke", [f"study.out_dir={tmp_path / 'out'}"]))


def test_dry_run_refuses_what_the_launch_would_refuse_about_the_studys_history(tmp_path):
    """`--dry-run model.ngf=12` on a study whose history ran at ngf 8: the same line and exit 2 as the launch
    (issue 31, item 3), after the plan; with the stored settings it passes, and nothing is created."""
    from tuning.state.history import record_settings
    from tuning.state.storage import stored_study
    out = tmp_path / "study"
    out.mkdir()
    storage = optuna_storage(f"sqlite:///{out / 'optuna.db'}")
    TrialRecords(storage, "smoke")  # creates the history, as a first launch does
    record_settings(load_study("smoke", [f"study.out_dir={out}"]), stored_study(storage, "smoke"))
    before = file_tree(tmp_path)
    same = run_cli("tuning.launch", "study=smoke", f"study.out_dir={out}", "--dry-run", cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    changed = run_cli("tuning.launch", "study=smoke", f"study.out_dir={out}", "model.ngf=12", "--dry-run", cwd=tmp_path)
    line = assert_user_error(changed, "was run with other settings: model.ngf (8 -> 12)", "study.new_history=true")
    assert "trials (engine keys that differ from the base):" in changed.stdout  # the plan first, then the refusal
    launched = run_cli("tuning.launch", "study=smoke", f"study.out_dir={out}", "model.ngf=12", cwd=tmp_path)
    assert assert_user_error(launched) == line  # exactly what the launch says
    assert file_tree(tmp_path) == before
