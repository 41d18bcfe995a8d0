import pytest

from cyclegan.config import Config, load_config
from cyclegan.configtools import UserError, flatten, to_dict


def test_defaults_are_the_reference_settings():
    cfg = load_config([])
    assert (cfg.loss.lambda_cyc, cfg.loss.lambda_id, cfg.loss.gan_mode) == (10.0, 5.0, "lsgan")
    assert (cfg.optim.lr_g, cfg.optim.lr_d, cfg.optim.beta1, cfg.optim.beta2) == (2e-4, 2e-4, 0.5, 0.999)
    assert (cfg.model.generator, cfg.model.g_depth, cfg.model.d_layers) == ("resnet", 9, 3)
    assert (cfg.train.pool_size, cfg.train.epochs, cfg.train.decay_epochs) == (50, 100, 100)


def test_yaml_then_command_line_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("loss:\n  lambda_cyc: 3\ntrain:\n  epochs: 7\n")
    cfg = load_config([f"config={path}", "train.epochs=9", "optim.lr_g=1e-4", "loss.lambda_id=0"])
    assert cfg.loss.lambda_cyc == 3.0 and isinstance(cfg.loss.lambda_cyc, float)
    assert cfg.train.epochs == 9
    assert cfg.optim.lr_g == 1e-4
    assert cfg.loss.lambda_id == 0.0


def test_flat_keys_match_the_spec_names():
    keys = set(flatten(to_dict(Config())))
    for key in ["data.name", "data.root", "data.load_size", "data.crop_size", "data.max_images", "model.generator",
                "model.g_depth", "model.ngf", "model.ndf", "model.d_layers", "model.norm", "loss.gan_mode",
                "loss.lambda_cyc", "loss.lambda_id", "loss.lambda_gp", "optim.lr_g", "optim.lr_d", "optim.beta1",
                "optim.beta2", "train.epochs", "train.decay_epochs", "train.batch_size", "train.pool_size",
                "train.seed", "train.device", "train.amp", "train.channels_last", "train.compile", "train.out_dir",
                "train.checkpoint_every", "eval.every", "eval.backbone", "eval.inception_weights",
                "eval.num_images", "eval.kid_subset_size", "eval.grid_images"]:
        assert key in keys, key


@pytest.mark.parametrize("override, fragments", [
    (["loss.lamda_cyc=3"], ["loss.lamda_cyc", "did you mean loss.lambda_cyc"]),
    (["model.generator=vgg"], ["model.generator='vgg'", "resnet, unet, unet_keras"]),
    (["loss.gan_mode=wgan"], ["lsgan, vanilla, hinge, wgangp"]),
    (["train.epochs=two"], ["train.epochs", "integer"]),
    (["train.amp=maybe"], ["train.amp", "true or false"]),
    (["optim.lr_g=0"], ["optim.lr_g=0.0", "> 0"]),
    (["optim.lr_d=-1e-4"], ["optim.lr_d"]),
    (["loss.lambda_cyc=-1"], ["loss.lambda_cyc=-1.0", ">= 0"]),
    (["loss.lambda_cyc=1e308"], ["loss.lambda_cyc=1e+308", "at most 1e6"]),
    (["loss.lambda_id=nan"], ["loss.lambda_id=nan"]),
    (["train.seed=" + "1" + "0" * 30], ["train.seed=", "below 2**31"]),
    (["loss.lambda_gan=0", "loss.lambda_cyc=0", "loss.lambda_id=0"], ["nothing to train"]),
    (["data.crop_size=300"], ["data.crop_size=300", "data.load_size=286"]),
    (["model.generator=unet", "model.g_depth=9"], ["model.g_depth=9", "too deep", "data.crop_size=256"]),
    (["model.generator=unet_keras", "model.g_depth=6", "data.load_size=32", "data.crop_size=32"],
     ["too deep", "model.g_depth<=4"]),
    (["model.generator=unet", "model.g_depth=4"], ["too shallow"]),
    (["data.name=folder"], ["data.root is required"]),
    (["data.load_size=16", "data.crop_size=16"], ["model.d_layers=3", "too deep"]),
    (["train.epochs"], ["not key=value"]),
])
def test_bad_values_name_the_key(override, fragments):
    with pytest.raises(UserError) as err:
        load_config(override)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_yaml_syntax_error_gives_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: 3\n  seed: [1, 2\n")
    with pytest.raises(UserError, match=r"bad.yaml line \d+"):
        load_config([f"config={path}"])


def test_yaml_anchors_and_aliases_are_refused(tmp_path):
    """A "billion laughs" file would expand exponentially; config and study files never need aliases."""
    from cyclegan.configtools import load_yaml
    path = tmp_path / "bomb.yaml"
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match="line 1: YAML anchors and aliases"):
        load_yaml(path)
    big = tmp_path / "big.yaml"
    big.write_text("x: " + "y" * 1_100_000 + "\n")
    with pytest.raises(UserError, match="over the 1,000,000"):
        load_yaml(big)


def test_a_bad_file_in_studies_does_not_break_the_listing(tmp_path, monkeypatch):
    import tuning.study.loading as study_module
    from tuning.launch import describe_studies
    (tmp_path / "good.yaml").write_text((study_module.STUDIES_DIR / "smoke.yaml").read_text())
    (tmp_path / "bomb.yaml").write_text('a: &a [1, 2]\nb: [*a, *a]\n')
    monkeypatch.setattr(study_module, "STUDIES_DIR", tmp_path)
    listing = describe_studies()
    assert "good" in listing and "4 trials" in listing
    assert "bomb" in listing and "invalid" in listing and "anchors and aliases" in listing


def test_interpolation_is_refused_in_files_and_on_the_command_line(tmp_path, monkeypatch):
    """`${oc.env:...}` would copy an environment secret into a value the platform logs as an MLflow param
    and writes to config.yaml: values are taken literally, interpolation is an input error."""
    from tests.helpers import assert_user_error, run_cli
    monkeypatch.setenv("PGPASSWORD", "hunter2")
    study = tmp_path / "leaky.yaml"
    study.write_text("description: x\nloss:\n  lambda_cyc: 10\ndata:\n  root: ${oc.env:PGPASSWORD}\n")
    result = run_cli("tuning.launch", f"study={study}", "--dry-run")
    assert_user_error(result, "data.root", "interpolation", "PGPASSWORD")
    assert "hunter2" not in result.stdout + result.stderr
    with pytest.raises(UserError, match="train.out_dir in the command line uses interpolation"):
        load_config(["train.out_dir=${oc.env:PGPASSWORD}"])
    with pytest.raises(UserError, match="interpolation"):
        load_config(["data.root=${train.out_dir}"])  # references too: nothing is resolved


def test_help_lists_every_key_with_its_default():
    """`--help` is generated from the config dataclasses: every key a run's config.yaml holds, with its
    default and allowed values; no reference to files outside the repository."""
    from tests.helpers import run_cli
    from tuning.study.platform import LaunchConfig
    train = run_cli("cyclegan.train", "--help")
    assert train.returncode == 0
    defaults = flatten(to_dict(Config()))
    for key, value in defaults.items():
        shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        assert f"  {key}={shown[:20]}" in train.stdout, key
    assert "lsgan | vanilla | hinge | wgangp" in train.stdout and "SPEC" not in train.stdout
    launch = run_cli("tuning.launch", "--help")
    for key in [*flatten(to_dict(LaunchConfig())), "loss.lambda_cyc"]:
        assert f"  {key}=" in launch.stdout, key
    assert "SPEC" not in launch.stdout
    translate = run_cli("cyclegan.translate", "--help")
    assert "  direction=b2a" in translate.stdout and "a2b | b2a" in translate.stdout


def test_default_threads_leave_out_the_cores_other_work_keeps_busy(monkeypatch, tmp_path):
    """train.threads=0 uses the idle cores: all of them on an idle machine, one beside a hog on every core
    (torch's default of every core ran the README's first run 3.3x slower there: benchmarks/threads.py)."""
    import os
    import subprocess
    import sys
    import time

    from cyclegan import trainer
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    for busy, threads in [(0, 4), (1, 3), (3, 1), (9, 1)]:
        monkeypatch.setattr(trainer, "busy_cores", lambda busy=busy: busy)
        assert trainer.idle_cores() == threads
    hog = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:  # two real busy processes: /proc/loadavg counts them at once (the 1-minute average would lag)
        time.sleep(0.5)
        assert trainer.busy_cores() >= 1
    finally:
        for proc in hog:
            proc.kill()
            proc.wait()
    cfg = load_config(["train.threads=3", "data.synthetic_train_size=8", "data.synthetic_test_size=4",
                       "data.load_size=36", "data.crop_size=32", "model.ngf=8", "model.ndf=8", "model.g_depth=2",
                       "eval.every=0", f"train.out_dir={tmp_path}"])
    import torch
    before = torch.get_num_threads()
    try:
        assert trainer.Trainer(cfg, log=lambda *a: None, progress=False).threads == 3  # an explicit value wins
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_compile_with_a_gradient_penalty_is_an_input_error_not_a_crash(tmp_path):
    """torch.compile has no double backward, which the WGAN-GP penalty needs: `cyclegan.train` crashed with
    a RuntimeError after building everything. Now the config says so at once, with exit 2 and one line."""
    from tests.helpers import assert_user_error, run_cli
    with pytest.raises(UserError, match="train.compile=true cannot train loss.gan_mode=wgangp"):
        load_config(["train.compile=true", "loss.gan_mode=wgangp"])
    result = run_cli("cyclegan.train", "train.compile=true", "loss.gan_mode=wgangp", f"train.out_dir={tmp_path}")
    assert_user_error(result, "train.compile=false", "loss.lambda_gp=0")
    for fine in (["train.compile=true", "loss.gan_mode=wgangp", "loss.lambda_gp=0"],  # no penalty: no double backward
                 ["train.compile=true", "loss.gan_mode=lsgan"], ["loss.gan_mode=wgangp"]):
        load_config(fine)
