import hashlib

import numpy as np
from PIL import Image
import pytest
import scipy.linalg
import torch

from cyclegan.backbones import INCEPTION_FILE, load_inception
from cyclegan.config import EvalConfig
from cyclegan.configtools import UserError
from cyclegan.evaluation import (Evaluator, RealStats, fid_jackknife_se, fid_from_features, kid_from_features,
                                 kid_standard_error)
from cyclegan.networks import ResnetGenerator
from cyclegan.synthetic import make_synthetic


def numpy_fid(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def direct_mmd(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    d, m, n = x.shape[1], len(x), len(y)
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kxy.sum() / (m * n))


def test_fid_of_a_set_against_itself_is_zero():
    x = torch.randn(200, 16)
    assert abs(fid_from_features(x, x)) < 1e-6


def test_fid_equals_an_independent_scipy_computation_and_torchmetrics():
    from torchmetrics.image.fid import _compute_fid
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 24, generator=g) @ torch.randn(24, 24, generator=g)  # correlated features
    y = torch.randn(250, 24, generator=g) * 1.3 + 0.4
    ours = fid_from_features(x, y)
    assert ours == pytest.approx(numpy_fid(x, y), rel=1e-3)
    x64, y64 = x.double(), y.double()
    reference = _compute_fid(x64.mean(0), torch.cov(x64.T), y64.mean(0), torch.cov(y64.T)).item()
    assert ours == pytest.approx(reference, rel=1e-6)


def test_kid_equals_a_direct_unbiased_mmd():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 8, generator=g), torch.randn(40, 8, generator=g) + 0.5
    mean, std = kid_from_features(x, y, subset_size=40, subsets=3)
    assert mean == pytest.approx(direct_mmd(x, y), rel=1e-6)
    assert std is None  # every subset is the whole set: no spread is claimed
    # subsets: each value is the MMD of the subset, as torchmetrics' poly_mmd computes it per subset
    from torchmetrics.image.kid import poly_mmd
    gen = torch.Generator().manual_seed(0)
    values = []
    for _ in range(4):
        f, r = torch.randperm(40, generator=gen)[:15], torch.randperm(40, generator=gen)[:15]
        values.append(poly_mmd(x[f].double(), y[r].double()))
    expected = torch.stack(values)
    mean, std = kid_from_features(x, y, subset_size=15, subsets=4)
    assert mean == pytest.approx(expected.mean().item(), rel=1e-9)
    assert std == pytest.approx(expected.std(unbiased=True).item(), rel=1e-9)  # the sample (n - 1) std


def test_kid_works_on_58_images_and_repeats_exactly():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(58, 8, generator=g), torch.randn(58, 8, generator=g)
    first = kid_from_features(x, y, subset_size=min(1000, 58, 58), subsets=20)
    assert first == kid_from_features(x, y, subset_size=58, subsets=20)
    half = kid_from_features(x, y, subset_size=29, subsets=20)
    assert half == kid_from_features(x, y, subset_size=29, subsets=20) and half[1] > 0


def tiny_eval(cache, **kw):
    return EvalConfig(backbone="tiny", cache_dir=str(cache), batch_size=8, grid_images=2, kid_subsets=5, **kw)


def test_second_evaluation_runs_no_backbone_forward_on_real_images(tmp_path):
    data = make_synthetic(4, 10, 16, 16)
    torch.manual_seed(0)
    g_a, g_b = ResnetGenerator(1, 4), ResnetGenerator(1, 4)
    first = Evaluator(tiny_eval(tmp_path / "cache"), data, torch.device("cpu"))
    metrics1, prov1, grids = first.evaluate(g_a, g_b, 1, tmp_path / "samples")
    assert first.forwards["real"] == 4 and first.forwards["fake"] == 4  # 2 domains x 2 batches of <= 8
    second = Evaluator(tiny_eval(tmp_path / "cache"), data, torch.device("cpu"))  # e.g. another trial
    metrics2, prov2, _ = second.evaluate(g_a, g_b, 2, None)
    assert second.forwards["real"] == 0 and second.forwards["fake"] == 4
    assert metrics1 == metrics2 and prov1 == prov2
    assert prov1["backbone"] == "tiny" and prov1["real_a"] == 10 and prov1["kid_subset_size"] == 10
    assert set(grids) == {"a2b", "b2a"} and grids["a2b"].name == "epoch_001_a2b.png"
    picture = np.asarray(Image.open(grids["a2b"]).convert("L"))  # a title bar, then three labelled rows
    assert picture[:14].min() < 100  # "a2b: A -> B, epoch 1"
    bands = np.array_split(picture[16:, :30], 3)
    assert all(band.min() < 100 for band in bands)  # "Original", "Translated", "Reconstructed"
    for key in ("fid", "kid", "fid_a2b", "fid_b2a", "l1_a2b", "psnr_b2a", "fid_a2b_se", "fid_b2a_se", "fid_se",
                "kid_a2b_se", "kid_b2a_se", "kid_se"):
        assert np.isfinite(metrics1[key]), key
    assert metrics1["fid_se"] > 0 and metrics1["kid_se"] > 0
    assert "kid_a2b_std" not in metrics1  # 10 images, subsets of 10: all subsets identical, no spread claimed
    # other content -> another cache entry, computed afresh
    third = Evaluator(tiny_eval(tmp_path / "cache"), make_synthetic(4, 9, 16, 16), torch.device("cpu"))
    third.evaluate(g_a, g_b, 1, None)
    assert third.forwards["real"] > 0


def test_grid_rows_are_original_translated_reconstructed(tmp_path):
    from PIL import Image
    data = make_synthetic(4, 6, 16, 16)
    ev = Evaluator(tiny_eval(tmp_path), data, torch.device("cpu"))
    identity = torch.nn.Identity()
    _, _, grids = ev.evaluate(identity, identity, 3, tmp_path)
    labelled = np.asarray(Image.open(grids["a2b"]))
    grid = labelled[16:, -(2 + 2 * 18):]  # below the title bar, right of the row labels
    assert labelled.shape[0] == 16 + 2 + 3 * 18  # 3 rows x 2 images of 16 px with 2 px padding
    assert grid.shape == (2 + 3 * 18, 2 + 2 * 18, 3)
    first = grid[2:18, 2:18]
    assert np.array_equal(first, data.test_a[0].permute(1, 2, 0).numpy())
    assert np.array_equal(grid[20:36, 2:18], first) and np.array_equal(grid[38:54, 2:18], first)


@pytest.fixture
def fake_inception_weights(tmp_path, monkeypatch):
    """A state dict of the FID Inception's shapes with random values, written by the test (no network).

    Building the module normally loads the real weights, so for this one construction we stub out the
    loading (the only mock here); the code under test then loads the file written below for real.
    """
    import torch_fidelity.feature_extractor_inceptionv3 as fe
    monkeypatch.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
    monkeypatch.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
    net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    monkeypatch.undo()
    g = torch.Generator().manual_seed(0)
    state = {k: (torch.randn(v.shape, generator=g) * 0.05 if v.is_floating_point() else v) for k, v in
             net.state_dict().items()}
    path = tmp_path / INCEPTION_FILE
    torch.save(state, path)
    return path


def test_inception_weights_load_from_a_file(fake_inception_weights):
    digest = hashlib.sha256(fake_inception_weights.read_bytes()).hexdigest()
    backbone = load_inception(EvalConfig(inception_weights=str(fake_inception_weights), inception_sha256=""))
    feats = backbone(torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8))
    assert feats.shape == (2, 2048) and backbone.weights_sha256 == digest and backbone.resize_mode == "tf1-bilinear"


def test_inception_weights_with_the_wrong_hash_are_refused(fake_inception_weights):
    with pytest.raises(UserError, match="not the expected 6726825d"):
        load_inception(EvalConfig(inception_weights=str(fake_inception_weights)))


def test_inception_weights_with_a_pickle_payload_are_refused(tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"x": Payload()}))
    with pytest.raises(UserError, match="refusing"):
        load_inception(EvalConfig(inception_weights=str(path), inception_sha256=""))


def test_missing_weights_offline_say_where_to_put_them(tmp_path):
    cfg = EvalConfig(inception_url="http://127.0.0.1:9/weights.pth")
    with pytest.raises(UserError) as err:
        load_inception(cfg)
    message = str(err.value)
    assert INCEPTION_FILE in message and "eval.inception_weights" in message
    assert str(torch.hub.get_dir()) in message  # the torch hub cache it would have used
    assert "eval.backbone=tiny" in message


# the d x d path and the n x n (n < d) path, each with n a multiple of the 20 groups and not (58 = 18 groups
# of 3 and 2 of 2; 39 = 19 of 2 and 1 of 1): dropping the left-over images gave 1.4-1.8x the true spread there
@pytest.mark.parametrize("n, d", [(60, 8), (58, 8), (40, 96), (39, 96)])
def test_standard_errors_match_the_spread_over_fresh_test_sets(n, d):
    """Monte Carlo: draw many fake sets of n images from one distribution (real set fixed) and compare the
    spread of FID and KID across them with the standard errors each single set estimates."""
    g = torch.Generator().manual_seed(3)
    mix = torch.randn(d, d, generator=g) / d ** 0.5
    real = torch.randn(400, d, generator=g) @ mix
    stats = RealStats(real)
    fids, kids, fid_ses, kid_ses = [], [], [], []
    for _ in range(60):
        fake = (torch.randn(n, d, generator=g) @ mix) * 1.2 + 0.3
        fids.append(fid_from_features(fake, stats))
        kids.append(kid_from_features(fake, real, subset_size=n, subsets=1)[0])
        fid_ses.append(fid_jackknife_se(fake, stats, groups=20))
        kid_ses.append(kid_standard_error(fake, real))
    true_fid, true_kid = np.std(fids, ddof=1), np.std(kids, ddof=1)
    assert 0.8 < np.mean(fid_ses) / true_fid < 1.35, (np.mean(fid_ses), true_fid)
    assert 0.6 < np.mean(kid_ses) / true_kid < 1.6, (np.mean(kid_ses), true_kid)


def test_subspace_and_direct_paths_give_the_same_fids():
    """The m x m subspace trick (m < d) gives the same FIDs as the direct d x d computation, and each
    replicate equals the plain FID of its subset."""
    from cyclegan.evaluation import subset_fids
    g = torch.Generator().manual_seed(4)
    real = RealStats(torch.randn(300, 20, generator=g))
    fake = torch.randn(25, 20, generator=g) + 0.2
    keep = torch.stack([torch.arange(25)[:22], torch.arange(3, 25), torch.randperm(25, generator=g)[:22]])
    direct = subset_fids(fake, real, keep)                                   # m = 22 >= d = 20: d x d path
    padded_real = RealStats(torch.cat([real.features, torch.zeros(300, 10, dtype=torch.float64)], 1))
    padded_fake = torch.cat([fake, torch.zeros(25, 10)], 1)                  # d = 30 > m: m x m path
    assert torch.allclose(subset_fids(padded_fake, padded_real, keep), direct, rtol=1e-6)
    for row, value in zip(keep, direct):
        assert value.item() == pytest.approx(fid_from_features(fake[row], real), rel=1e-9)


def test_evaluation_stays_float32_inside_a_callers_autocast(tmp_path):
    """A trainer with train.amp wraps its step in bf16 autocast; evaluation must not inherit it."""
    data = make_synthetic(4, 6, 16, 16)
    torch.manual_seed(0)
    g = ResnetGenerator(1, 4)
    ev = Evaluator(tiny_eval(tmp_path), data, torch.device("cpu"))
    plain = ev.translate(g, data.test_a)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = ev.translate(g, data.test_a)
        bf16 = g(data.test_a.float() / 127.5 - 1)  # what autocast does to the same generator
    assert torch.equal(plain, inside)
    assert bf16.dtype == torch.bfloat16  # the test would see the difference if evaluation followed autocast
