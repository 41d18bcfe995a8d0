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
    import tuning.study as study_module
    from tuning.launch import describe_studies
    (tmp_path / "good.yaml").write_text((study_module.STUDIES_DIR / "smoke.yaml").read_text())
    (tmp_path / "bomb.yaml").write_text('a: &a [1, 2]\nb: [*a, *a]\n')
    monkeypatch.setattr(study_module, "STUDIES_DIR", tmp_path)
    listing = describe_studies()
    assert "good" in listing and "4 trials" in listing
    assert "bomb" in listing and "invalid" in listing and "anchors and aliases" in listing
