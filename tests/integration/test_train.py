"""The training command and the Trainer end to end, on tiny synthetic data (seconds each)."""
import json
import math

import pytest
import torch
import yaml

from cyclegan.config import load_config
from cyclegan.networks import ResnetGenerator, count_parameters
from cyclegan.trainer import Trainer, TrainingDiverged
from tests.helpers import MONET_MINI, TINY, assert_user_error, run_cli

LOSS_KEYS = {"loss_G", "loss_D", "loss_gan_a2b", "loss_gan_b2a", "loss_cyc_a", "loss_cyc_b", "loss_id_a", "loss_id_b"}
# TINY has 12 test images and KID subsets of 12: every subset is the whole set, so no kid_*_std is claimed
EVAL_KEYS = {"fid", "kid", "fid_a2b", "fid_b2a", "kid_a2b", "kid_b2a", "l1_a2b", "l1_b2a", "psnr_a2b", "psnr_b2a",
             "fid_a2b_se", "fid_b2a_se", "fid_se", "kid_a2b_se", "kid_b2a_se", "kid_se"}


def quiet(cfg, **kw):
    return Trainer(cfg, log=lambda *a: None, progress=False, **kw)


def test_train_command_writes_the_spec_outputs(tmp_path):
    out = tmp_path / "run"
    result = run_cli("cyclegan.train", *TINY, f"train.out_dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    g_params = count_parameters(ResnetGenerator(2, 8))
    assert f"G_A: {g_params:,} parameters" in result.stdout and "D_B:" in result.stdout
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        assert LOSS_KEYS | EVAL_KEYS | {"epoch", "time_s", "images_per_s"} <= set(record)
        assert record["provenance"]["backbone"] == "tiny" and record["provenance"]["kid_subset_size"] == 12
        assert record["provenance"]["amp"] is False and "kid_a2b_std" not in record
    epoch_lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert " ± " in epoch_lines[-1]  # the epoch line shows fid with its standard error
    assert "a run this short paints noise" in result.stdout  # and the user learns the grids are meant to
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["g_depth"] == 2
    assert (out / "checkpoints" / "last.pt").is_file()
    assert {p.name for p in (out / "samples").iterdir()} == {
        "epoch_001_a2b.png", "epoch_001_b2a.png", "epoch_002_a2b.png", "epoch_002_b2a.png"}
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".*.tmp"))
    again = run_cli("cyclegan.train", *TINY, f"train.out_dir={out}")  # never silently overwrite a run
    assert_user_error(again, "already holds a run", "resume=true")


@pytest.mark.parametrize("extra", [[], ["train.diffaugment=color,translation,cutout"]], ids=["plain", "diffaugment"])
def test_one_epoch_plus_resume_equals_two_epochs(tmp_path, extra):
    straight = [r.metrics for r in quiet(load_config(TINY + extra + [f"train.out_dir={tmp_path / 'a'}"])).epochs()]
    cfg = load_config(TINY + extra + [f"train.out_dir={tmp_path / 'b'}"])
    for report in quiet(cfg).epochs():
        break  # interrupted after epoch 1 (its checkpoint is written)
    resumed = quiet(load_config(TINY + extra + [f"train.out_dir={tmp_path / 'b'}", "resume=true"]))
    assert resumed.epoch == 1
    second = [r.metrics for r in resumed.epochs()]
    assert [m["epoch"] for m in second] == [2]
    for key in LOSS_KEYS | EVAL_KEYS:
        assert second[0][key] == straight[1][key], key
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    if extra:  # the policy is in config.yaml, and it changed training (so the equality above tested its RNG)
        assert yaml.safe_load((tmp_path / "b" / "config.yaml").read_text())["train"]["diffaugment"] == \
            "color,translation,cutout"
        plain = [r.metrics for r in quiet(load_config(TINY + [f"train.out_dir={tmp_path / 'c'}"])).epochs()]
        assert plain[1]["loss_D"] != straight[1]["loss_D"]


def unfused(trainer):
    """The trainer's Adams as versions before the fused kernel made them (a for-loop per parameter)."""
    for opt in (trainer.opt_g, trainer.opt_d):
        assert all(group["fused"] for group in opt.param_groups)  # what this version makes
        for group in opt.param_groups:
            group["fused"] = None
    return trainer


def test_a_run_checkpointed_before_fused_adam_resumes_exactly(tmp_path):
    """A study started under an earlier version continues with the optimizer its checkpoint was saved
    with, so its resumed epochs equal those of a run that was never interrupted."""
    straight = unfused(quiet(load_config(TINY + [f"train.out_dir={tmp_path / 'a'}"])))
    straight = [r.metrics for r in straight.epochs()]
    for report in unfused(quiet(load_config(TINY + [f"train.out_dir={tmp_path / 'b'}"]))).epochs():
        break
    resumed = quiet(load_config(TINY + [f"train.out_dir={tmp_path / 'b'}", "resume=true"]))
    assert not resumed.opt_g.param_groups[0]["fused"] and not resumed.opt_d.param_groups[0]["fused"]
    second = [r.metrics for r in resumed.epochs()]
    for key in LOSS_KEYS:
        assert second[0][key] == straight[1][key], key


def test_without_a_terminal_a_progress_line_comes_at_least_every_heartbeat(tmp_path):
    """Output going to a file (nohup, CI, a cluster job) gets a progress line, not 8 silent minutes."""
    lines = []
    trainer = Trainer(load_config(TINY + [f"train.out_dir={tmp_path}"]), log=lines.append, progress=False)
    trainer.heartbeat_s = 0.0  # every step, instead of every 30 s
    list(trainer.epochs())
    beats = [line for line in lines if line.startswith("epoch 1/2: step")]
    assert len(beats) >= 2 and "images/s" in beats[0] and "epoch done in ~" in beats[0]
    on_terminal = []
    bar = Trainer(load_config(TINY + [f"train.out_dir={tmp_path / 'tty'}"]), log=on_terminal.append, progress=True)
    bar.heartbeat_s = 0.0
    list(bar.epochs())
    assert not [line for line in on_terminal if ": step " in str(line)]  # a terminal has tqdm's bar instead


def count_images(trainer):
    """Images each network has run on (inputs of one net may share a pass: `Trainer.run`)."""
    images = {name: 0 for name in trainer.nets}
    for name, net in trainer.nets.items():
        net.register_forward_hook(lambda net, inputs, out, name=name: images.__setitem__(name, images[name] + len(inputs[0])))
    return images


@pytest.mark.parametrize("weights, g_calls, d_calls, terms", [
    ({}, 6, 6, LOSS_KEYS),                                               # fake, rec, idt for each side; D: 1 + 2
    ({"loss.lambda_id": 0}, 4, 6, LOSS_KEYS - {"loss_id_a", "loss_id_b"}),
    ({"loss.lambda_cyc": 0, "loss.lambda_id": 0}, 2, 6, {"loss_G", "loss_D", "loss_gan_a2b", "loss_gan_b2a"}),
    ({"loss.lambda_gan": 0}, 6, 0, {"loss_G", "loss_cyc_a", "loss_cyc_b", "loss_id_a", "loss_id_b"}),
    # the paper's GAN + forward cycle / GAN + backward cycle rows: one reconstruction each, no identity
    ({"loss.lambda_cyc_b": 0, "loss.lambda_id": 0}, 3, 6, {"loss_G", "loss_D", "loss_gan_a2b", "loss_gan_b2a", "loss_cyc_a"}),
    ({"loss.lambda_cyc_a": 0, "loss.lambda_id": 0}, 3, 6, {"loss_G", "loss_D", "loss_gan_a2b", "loss_gan_b2a", "loss_cyc_b"}),
    # cycle alone without adversarial term: F(b) is still needed for the backward cycle, G(a) for the forward
    ({"loss.lambda_gan": 0, "loss.lambda_id": 0, "loss.lambda_cyc_b": 0}, 2, 0, {"loss_G", "loss_cyc_a"}),
])
def test_a_zero_weight_skips_its_forward_passes(tmp_path, weights, g_calls, d_calls, terms):
    cfg = load_config(TINY + [f"train.out_dir={tmp_path}"] + [f"{k}={v}" for k, v in weights.items()])
    trainer = quiet(cfg)
    images = count_images(trainer)
    a, b = next(trainer.data.batches(1, 4, 32, 0))
    out = trainer.train_step(a, b)
    assert images["G_A"] + images["G_B"] == g_calls * len(a)
    assert images["D_A"] + images["D_B"] == d_calls * len(a)
    assert set(out) - {"loss_D_A", "loss_D_B"} == terms


@pytest.mark.parametrize("mode", ["lsgan", "vanilla", "hinge", "wgangp"])
def test_every_gan_mode_trains(tmp_path, mode):
    trainer = quiet(load_config(TINY + [f"train.out_dir={tmp_path}", f"loss.gan_mode={mode}"]))
    images = count_images(trainer)
    a, b = next(trainer.data.batches(1, 4, 32, 0))
    before = [p.clone() for p in trainer.nets["D_A"].parameters()]
    out = trainer.train_step(a, b)
    assert all(torch.isfinite(v) for v in out.values())
    assert any(not torch.equal(x, y) for x, y in zip(before, trainer.nets["D_A"].parameters()))
    # wgangp runs D once more per side on the interpolates for its gradient penalty
    assert images["D_A"] + images["D_B"] == (8 if mode == "wgangp" else 6) * len(a)


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_inputs_sharing_a_pass_train_exactly_as_separate_passes(tmp_path, norm):
    """G(a) and G(b), F(b) and F(a), D(real) and D(fake) share one pass where the norm treats each image
    alone: the step must compute what one pass per input computes. Batch norm would mix their statistics,
    so there each input runs alone."""
    def one_step(one_pass: bool):
        trainer = quiet(load_config(TINY + [f"train.out_dir={tmp_path / str(one_pass)}", f"model.norm={norm}"]))
        assert trainer.one_pass == (norm != "batch")
        trainer.one_pass = one_pass and trainer.one_pass
        passes = {name: 0 for name in trainer.nets}
        for name, net in trainer.nets.items():
            net.register_forward_hook(lambda *_, name=name: passes.__setitem__(name, passes[name] + 1))
        batches = trainer.data.batches(1, 4, 32, 0)
        terms = [trainer.train_step(*next(batches)) for _ in range(2)]  # the second step sees the first's update
        return terms, sum(passes.values())

    # (Weights are not compared element by element: Adam's first update is lr * sign(grad), so a gradient
    # within rounding of zero may flip; the losses of the next step carry every update that matters.)
    shared, shared_passes = one_step(True)
    alone, alone_passes = one_step(False)
    assert shared_passes == 2 * (8 if norm == "instance" else 12) and alone_passes == 2 * 12
    for step in range(2):
        for key in alone[step]:
            torch.testing.assert_close(shared[step][key], alone[step][key], rtol=1e-4, atol=1e-5)


def test_absurd_learning_rate_stops_within_the_epoch(tmp_path):
    cfg = load_config(TINY + [f"train.out_dir={tmp_path}", "optim.lr_g=1e30", "optim.lr_d=1e30"])
    with pytest.raises(TrainingDiverged, match="lower the learning rates"):
        list(quiet(cfg).epochs())
    result = run_cli("cyclegan.train", *TINY, f"train.out_dir={tmp_path / 'cli'}", "optim.lr_g=1e30", "optim.lr_d=1e30")
    assert result.returncode == 1 and "training diverged" in result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    cfg = load_config(TINY + [f"train.out_dir={out}", "train.decay_epochs=0", "eval.every=0"])
    list(quiet(cfg).epochs())
    return out / "checkpoints" / "last.pt"


def test_bad_checkpoints_are_refused(trained, tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (exec, ("open('PWNED', 'w').write('x')",))

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(trained.read_bytes()[:5000])
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"nets": {"G_A": Payload()}}, f)
    missing = tmp_path / "nope.pt"
    photos = tmp_path / "photos"  # a valid input: the photos are checked first, then the checkpoint
    photos.mkdir()
    from PIL import Image
    Image.new("RGB", (20, 20)).save(photos / "a.png")
    for path, fragment in [(truncated, "truncated or corrupt"), (evil, "refusing to load it"),
                           (missing, "does not exist; check the path")]:
        result = run_cli("cyclegan.translate", f"checkpoint={path}", f"input={photos}", f"output={tmp_path / 'o'}",
                         cwd=tmp_path)
        line = assert_user_error(result, str(path), fragment)
        assert "resume" not in line  # translate has no resume=true to drop
    assert not (tmp_path / "PWNED").exists()
    # resuming with another architecture
    out = trained.parent.parent
    result = run_cli("cyclegan.train", *TINY, f"train.out_dir={out}", "resume=true", "model.g_depth=3")
    assert_user_error(result, "another architecture", "model.g_depth=2")


def test_translate_keeps_names_and_shrinks_huge_photos(trained, tmp_path):
    from PIL import Image
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (6000, 4000), (120, 160, 200)).save(photos / "campus big.jpg", quality=70)
    Image.new("RGBA", (33, 47), (10, 200, 30, 128)).save(photos / "small.png")
    result = run_cli("cyclegan.translate", f"checkpoint={trained}", f"input={photos}", f"output={tmp_path / 'out'}",
                     "direction=a2b", "max_side=256")
    assert result.returncode == 0, result.stderr[-2000:]
    assert Image.open(tmp_path / "out" / "campus big.jpg").size == (256, 171)
    assert Image.open(tmp_path / "out" / "small.png").size == (33, 47)


@pytest.mark.parametrize("args, fragments", [
    (["model.generatr=unet"], ["model.generatr", "did you mean model.generator"]),
    (["data.name=folder", "data.root=/nonexistent/data"], ["data.root=/nonexistent/data", "does not exist"]),
    (["resume=true"], ["nothing to resume"]),
    (["train.diffaugment=colour"], ["train.diffaugment", "did you mean color"]),
    (["data.train_images=17"], ["data.train_images=17", "only 16 images"]),
    (["train.out_dir=/proc/version/run"], ["not writable"]),
    (["eval.backbone=inception", "eval.inception_url=http://127.0.0.1:9/w.pth"], ["weights-inception-2015-12-05"]),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, fragments):
    base = [a for a in TINY if not a.startswith("eval.backbone")] if "eval.backbone=inception" in args else TINY
    result = run_cli("cyclegan.train", *base, f"train.out_dir={tmp_path / 'run'}", *args)
    assert_user_error(result, *fragments)


def test_bad_image_in_a_folder_dataset_exits_2(tmp_path):
    from PIL import Image
    for split in ("trainA", "trainB", "testA", "testB"):
        (tmp_path / "d" / split).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 40), (i * 90, 20, 30)).save(tmp_path / "d" / split / f"{i}.jpg")
    (tmp_path / "d" / "trainB" / "broken.jpg").write_bytes(b"")
    args = [a for a in TINY if not a.startswith("data.name")] + ["data.name=folder", f"data.root={tmp_path / 'd'}"]
    assert_user_error(run_cli("cyclegan.train", *args, f"train.out_dir={tmp_path / 'r'}"), "broken.jpg")
    ok = run_cli("cyclegan.train", *args, "data.skip_bad_images=true", f"train.out_dir={tmp_path / 'r2'}")
    assert ok.returncode == 0, ok.stderr[-2000:]
    # a pixel bomb: 48 KB on disk, 20000 x 20000 claimed; refused from its header, skipped when asked
    (tmp_path / "d" / "trainB" / "broken.jpg").unlink()
    Image.new("1", (20000, 20000)).save(tmp_path / "d" / "trainA" / "bomb.png")
    assert (tmp_path / "d" / "trainA" / "bomb.png").stat().st_size < 100_000
    assert_user_error(run_cli("cyclegan.train", *args, f"train.out_dir={tmp_path / 'r3'}"), "bomb.png",
                      "too many pixels", "data.max_pixels")
    ok = run_cli("cyclegan.train", *args, "data.skip_bad_images=true", f"train.out_dir={tmp_path / 'r4'}")
    assert ok.returncode == 0 and "skipped 1 unreadable image" in ok.stderr, ok.stderr[-2000:]
    assert " nan" not in ok.stdout  # 2 test images allow no standard error: it is absent, not NaN
    (tmp_path / "d" / "trainA" / "bomb.png").unlink()
    Image.new("1", (12000, 10000)).save(tmp_path / "d" / "trainA" / "wide.png")  # 120 MP: our own limit
    assert_user_error(run_cli("cyclegan.train", *args, f"train.out_dir={tmp_path / 'r5'}"), "wide.png",
                      "12000x10000", "data.max_pixels")


def test_translate_never_writes_over_the_users_photos(trained, tmp_path):
    from PIL import Image
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 30), (120, 160, 200)).save(photos / "a.png")
    Image.new("1", (20000, 20000)).save(photos / "bomb.png")
    Image.new("RGB", (36, 36), (20, 60, 90)).save(photos / "c.png")
    original = (photos / "a.png").read_bytes()
    base = [f"checkpoint={trained}", f"input={photos}", "direction=a2b"]
    for output in (photos, photos / "painted"):  # the input itself, or a folder inside it
        assert_user_error(run_cli("cyclegan.translate", *base, f"output={output}"), "input folder or inside it")
    assert (photos / "a.png").read_bytes() == original and not (photos / "painted").exists()
    out = tmp_path / "out"
    result = run_cli("cyclegan.translate", *base, f"output={out}")
    # the bomb is named on its own line, the other photos are painted, and the command exits 2 at the end
    assert result.returncode == 2 and "bomb.png" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]
    painted = (out / "a.png").read_bytes()
    assert_user_error(run_cli("cyclegan.translate", *base, f"output={out}", "max_pixels=1000000000"), "overwrite=true")
    assert (out / "a.png").read_bytes() == painted  # refused before any work: nothing replaced
    (photos / "bomb.png").unlink()
    again = run_cli("cyclegan.translate", *base, f"output={out}", "overwrite=true")
    assert again.returncode == 0, again.stderr[-2000:]


def test_a_kill_between_the_metrics_line_and_the_checkpoint_resumes_without_a_gap(tmp_path):
    """The epoch's metrics line is written (and fsynced) before the checkpoint that claims the epoch. A kill
    in between leaves one line past the checkpoint, possibly torn: resume drops it and recomputes it."""
    out = tmp_path / "run"
    cfg = load_config(TINY + [f"train.out_dir={out}", "train.epochs=2", "train.decay_epochs=1"])
    trainer = quiet(cfg)
    epochs = trainer.epochs()
    next(epochs)  # epoch 1: metrics line, then checkpoint
    trainer.save = lambda path: (_ for _ in ()).throw(KeyboardInterrupt("killed"))  # die at the checkpoint
    with pytest.raises(KeyboardInterrupt):
        next(epochs)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]  # epoch 2 written, its checkpoint not
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "loss_G": 1.2')  # and a line torn mid-write
    resumed = run_cli("cyclegan.train", *TINY, f"train.out_dir={out}", "train.epochs=2", "train.decay_epochs=1",
                      "resume=true")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


@pytest.mark.skipif(not MONET_MINI.is_dir(), reason=f"real sample data not present at {MONET_MINI}")
def test_trains_on_real_monet_paintings(tmp_path):
    args = [a for a in TINY if not a.startswith(("data.", "train.epochs", "train.decay"))]
    cfg = load_config(args + ["data.name=folder", f"data.root={MONET_MINI}", "data.load_size=72", "data.crop_size=64",
                              "data.max_images=12", "train.epochs=1", "train.decay_epochs=0",
                              f"train.out_dir={tmp_path}"])
    trainer = quiet(cfg)
    assert trainer.data.train_a.shape == (12, 3, 72, 72) and trainer.data.test_b.shape == (12, 3, 64, 64)
    (report,) = list(trainer.epochs())
    assert report.metrics["fid"] > 0 and "l1_a2b" not in report.metrics  # no ground truth for real data
    assert report.images["b2a"].is_file()


def test_amp_trains_in_bf16_on_a_cpu_with_native_bf16(tmp_path):
    """train.amp=true: bf16 autocast on CPUs with AMX / AVX-512 BF16 (0.6x the fp32 step time on ours,
    benchmarks/cpu_step.py); elsewhere it is ignored with a note and the run trains in float32."""
    from cyclegan.trainer import cpu_has_bf16
    lines = []
    trainer = Trainer(load_config(TINY + [f"train.out_dir={tmp_path}", "train.amp=true"]), log=lines.append,
                      progress=False)
    assert trainer.amp == cpu_has_bf16()
    with trainer.autocast():
        out = trainer.nets["G_A"](torch.zeros(1, 3, 32, 32))
    assert out.dtype == (torch.bfloat16 if cpu_has_bf16() else torch.float32)
    assert any("no native bf16" in line for line in lines) != cpu_has_bf16()
    assert math.isfinite(trainer.train_epoch(1)["loss_G"])
