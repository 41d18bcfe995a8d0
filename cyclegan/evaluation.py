"""FID and KID per direction on the test split, with cached real statistics and sample grids.

Directions: `a2b` compares G_A(testA) with the real testB images, `b2a` compares G_B(testB) with testA.
Fakes are quantised to uint8 exactly as a saved PNG would be, then passed through the backbone (see
`backbones.py` for the resize mode). FID is computed in float64 from means and covariances (see
`fid_from_features`); KID is torchmetrics' unbiased polynomial-kernel MMD averaged over
`eval.kid_subsets` subsets of size min(eval.kid_subset_size, real count, fake count) drawn with a fixed
seed, so it works on 58-image test sets and gives the same number every time.

Each FID and KID comes with its standard error over the test images (`fid_a2b_se`, `kid_a2b_se`, ...):
how far the number would move if another set of test images of the same size had been translated.
The real statistics are held fixed: every trial of a study shares them, so their sampling error moves
all trials together and cancels in comparisons. FID's is a grouped jackknife over the fake features
(`fid_jackknife_se`, `eval.se_groups` groups, batched in an m x m or d x d subspace); KID's is the delta
method for its U-statistic (`kid_standard_error`). Both reuse features already computed, so
they cost a small fraction of the evaluation (benchmarks/eval_speed.py prints the share).
Evaluation always runs in float32, outside any autocast, whatever `train.amp` is.

Real-image features are computed once per (image content, image size, domain, backbone, weights hash,
resize mode) and cached on disk under a content-derived key shared by every run on the machine
(written to a temp file and renamed, so concurrent trials never read a partial file).
"""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections import Counter
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from .configtools import UserError

try:
    from torchmetrics.image.kid import poly_kernel
    from torchvision.utils import make_grid
except RuntimeError as exc:  # torchvision's compiled ops are for another torch release (`torchvision::nms ...`)
    if "torchvision::" not in str(exc):
        raise
    raise UserError(f"torch {torch.__version__} and the installed torchvision are from different releases "
                    f"({str(exc).splitlines()[0][:80]}); install the matching pair: pip install torch==2.14.1 "
                    "torchvision==0.29.1 (on a machine without a GPU add --extra-index-url "
                    "https://download.pytorch.org/whl/cpu)") from None

from .backbones import build_backbone  # noqa: E402
from .config import default_cache_dir  # noqa: E402
from .data import UnpairedData, to_float, to_uint8  # noqa: E402

CACHE_VERSION = "1"


class RealStats:
    """Everything about one real test domain that every evaluation reuses: features, mean, covariance
    and the covariance's symmetric square root (computed once per run, not once per epoch)."""

    def __init__(self, features: Tensor):
        self.features = features.double()
        self.mu = self.features.mean(0)
        self.sigma = torch.cov(self.features.T)
        evals, evecs = torch.linalg.eigh(self.sigma)
        self.sqrt_sigma = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T


def fid_from_features(fake: Tensor, real: Tensor | RealStats) -> float:
    """Frechet distance ||mu_f - mu_r||^2 + Tr(S_f + S_r - 2 (S_f S_r)^(1/2)).

    The trace of the matrix square root is taken as the sum of square roots of the eigenvalues of the
    symmetric S_r^(1/2) S_f S_r^(1/2), which has the same spectrum as S_f S_r: `eigvalsh` on a symmetric
    matrix is several times faster than the general `eigvals` (torchmetrics' `_compute_fid`) for 2048-d
    Inception features, and S_r^(1/2) is cached. Tests check both against scipy's sqrtm to 1e-3.
    """
    real = real if isinstance(real, RealStats) else RealStats(real)
    fake = fake.double()
    mu, sigma = fake.mean(0), torch.cov(fake.T)
    inner = real.sqrt_sigma @ sigma @ real.sqrt_sigma
    root_trace = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu - real.mu).square().sum() + sigma.trace() + real.sigma.trace() - 2 * root_trace)


def subset_fids(fake: Tensor, real: RealStats, keep: Tensor) -> Tensor:
    """FID of each row of `keep` (B, m): indices of the fake features that replicate uses, real fixed.

    Row b's FID needs the eigenvalues of S_r^(1/2) S_b S_r^(1/2) (d x d). With m < d (500 images,
    2048-d Inception) its non-zero eigenvalues are those of the m x m matrix Xc S_r Xc^T / (m - 1), Xc
    being the row's features centred on their mean; it is cut from one Gram matrix X S_r X^T, so each row
    costs O(m^2) plus one small eigensolve, all rows batched.
    """
    x = fake.double()
    n, d = x.shape
    b, m = keep.shape
    member = torch.zeros(b, n, dtype=torch.float64).scatter_(1, keep, 1.0)   # (B, n) indicator rows
    mu = member @ x / m                                                        # (B, d) replicate means
    trace_b = (member @ (x * x).sum(1) - m * (mu * mu).sum(1)) / (m - 1)       # Tr S_b
    mean_term = (mu - real.mu).square().sum(1)                                 # |mu_b - mu_r|^2
    if m < d:
        gram = x @ real.sigma @ x.T                                            # X S_r X^T (n x n)
        sub = gram[keep[:, :, None], keep[:, None, :]]                         # (B, m, m)
        rows = sub.mean(2)
        inner = (sub - rows[:, :, None] - rows[:, None, :] + rows.mean(1)[:, None, None]) / (m - 1)
    else:
        xs = (x @ real.sqrt_sigma)[keep]                                       # (B, m, d)
        xs = xs - xs.mean(1, keepdim=True)
        inner = xs.transpose(1, 2) @ xs / (m - 1)
    root_trace = torch.linalg.eigvalsh((inner + inner.transpose(1, 2)) / 2).clamp_min(0).sqrt().sum(1)
    return mean_term + trace_b + real.sigma.trace() - 2 * root_trace


def fid_jackknife_se(fake: Tensor, real: RealStats, groups: int) -> float:
    """Grouped (delete-a-group) jackknife standard error of FID over the fake images, real fixed.

    Every image is used: image i belongs to group i mod G, so with n not a multiple of G the groups hold
    floor(n/G) or ceil(n/G) images. Replicate g drops group g (m_g images) and gives F_(g); with the FID of
    all n images F, h_g = n / m_g, the pseudo-values t_g = h_g F - (h_g - 1) F_(g) and their weighted mean
    F_J = G F - sum (1 - m_g / n) F_(g), the variance is (1 / G) sum (t_g - F_J)^2 / (h_g - 1): the
    delete-m_g jackknife for unequal groups (Busing, Meijer & van der Leeden 1999). With equal groups it is
    the textbook (G - 1)/G * sum (F_(g) - mean)^2. Dropping the n mod G left-over images instead (as an
    earlier version did) measured the error of a smaller FID: 1.22x the true spread at 58 images, 20 groups.
    Chosen over the bootstrap because resampling with replacement duplicates rows, which lowers the
    covariance's rank and, with fewer images than feature dimensions, overstates the error about
    threefold (tests/unit/engine/test_evaluation.py; benchmarks/se_calibration.py prints SE / spread).
    """
    n = len(fake)
    groups = min(groups, n)
    if groups < 2 or n < 4:
        return math.nan
    group_of = torch.arange(n) % groups
    sizes = torch.bincount(group_of, minlength=groups).double()               # m_g: n // G or n // G + 1
    replicates = torch.empty(groups, dtype=torch.float64)
    for size in sizes.unique():  # subset_fids batches replicates of one size
        dropped = (sizes == size).nonzero().flatten()
        keep = torch.stack([(group_of != g).nonzero().flatten() for g in dropped.tolist()])
        replicates[dropped] = subset_fids(fake, real, keep)
    full = subset_fids(fake, real, torch.arange(n)[None])[0]
    h = n / sizes
    pseudo = h * full - (h - 1) * replicates
    centre = groups * full - ((1 - sizes / n) * replicates).sum()
    return float(((pseudo - centre).square() / (h - 1)).mean().sqrt())


def kid_standard_error(fake: Tensor, real: Tensor) -> float:
    """Delta-method standard error of the unbiased MMD^2 (KID) over the fake images, real fixed.

    MMD^2_u is a U-statistic; to first order its variance over draws of the m fake images is
    Var(psi_i) / m with psi_i = 2 (mean_{j != i} k(x_i, x_j) - mean_j k(x_i, y_j)) (Hoeffding's
    projection). The subset average that `kid_from_features` reports estimates the same quantity.
    """
    x, y = fake.double(), real.double()
    m = len(x)
    if m < 3:
        return math.nan
    k_xx, k_xy = poly_kernel(x, x), poly_kernel(x, y)
    psi = 2 * ((k_xx.sum(1) - k_xx.diagonal()) / (m - 1) - k_xy.mean(1))
    return float(psi.std(unbiased=True) / math.sqrt(m))


def kid_from_features(fake: Tensor, real: Tensor, subset_size: int, subsets: int,
                      seed: int = 0) -> tuple[float, float | None]:
    """Mean and unbiased std of the unbiased MMD^2 with torchmetrics' cubic polynomial kernel over seeded
    random subsets, as torchmetrics' `poly_mmd` computes it per subset (tests compare the two). The std
    is None when it would claim a spread that does not exist: one subset, or subsets as large as both
    sets (every subset is then the whole set, and every value the same).
    The three kernel matrices are computed once on all features and every subset's MMD is read from
    their sub-blocks, all subsets at once: the same numbers, at a fraction of the cost."""
    fake, real = fake.double(), real.double()
    k_ff, k_rr, k_fr = poly_kernel(fake, fake), poly_kernel(real, real), poly_kernel(fake, real)
    g = torch.Generator().manual_seed(seed)
    f_idx, r_idx = [], []
    for _ in range(subsets):
        f_idx.append(torch.randperm(len(fake), generator=g)[:subset_size])
        r_idx.append(torch.randperm(len(real), generator=g)[:subset_size])
    m = subset_size
    off_diagonal = lambda k: k.sum((1, 2)) - k.diagonal(dim1=1, dim2=2).sum(1)  # noqa: E731
    values = []
    chunk = max(1, 10_000_000 // (m * m))  # subsets per batch: three (chunk, m, m) float64 blocks <= 240 MB
    for start in range(0, subsets, chunk):
        f, r = torch.stack(f_idx[start:start + chunk]), torch.stack(r_idx[start:start + chunk])  # (chunk, m)
        xx = k_ff[f[:, :, None], f[:, None, :]]
        yy = k_rr[r[:, :, None], r[:, None, :]]
        xy = k_fr[f[:, :, None], r[:, None, :]]
        values.append((off_diagonal(xx) + off_diagonal(yy)) / (m * (m - 1)) - 2 * xy.sum((1, 2)) / m**2)
    values = torch.cat(values)
    identical = subsets < 2 or (subset_size >= len(fake) and subset_size >= len(real))
    return float(values.mean()), None if identical else float(values.std(unbiased=True))


def psnr(fake: Tensor, truth: Tensor) -> float:
    mse = ((fake.double() - truth.double()) / 255).pow(2).mean()
    return float(10 * torch.log10(1 / mse.clamp_min(1e-12)))


class Evaluator:
    """Holds the backbone and the real features of one dataset; `evaluate` is called once per eval epoch."""

    def __init__(self, eval_cfg, data: UnpairedData, device: torch.device):
        self.cfg = eval_cfg
        self.device = device
        self.backbone = build_backbone(eval_cfg, device)
        self.forwards = Counter()  # backbone batches run, by "real"/"fake": the cache test counts these
        n = eval_cfg.num_images or None
        self.test = {"a": data.test_a[:n], "b": data.test_b[:n]}
        self.truth = {"a2b": data.truth_a2b[:n] if data.truth_a2b is not None else None,
                      "b2a": data.truth_b2a[:n] if data.truth_b2a is not None else None}
        self.cache_dir = Path(eval_cfg.cache_dir or Path(default_cache_dir()) / "real_stats")
        self._real: dict[str, RealStats] = {}

    # -- features ---------------------------------------------------------------------------------
    def features(self, images: Tensor, kind: str) -> Tensor:
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.cfg.batch_size):
                batch = images[start:start + self.cfg.batch_size].to(self.device)
                out.append(self.backbone(batch).float().cpu())
                self.forwards[kind] += 1
        return torch.cat(out)

    def cache_key(self, domain: str) -> str:
        images = self.test[domain]
        h = hashlib.sha256()
        for part in (CACHE_VERSION, "test", domain, str(tuple(images.shape)), self.backbone.name,
                     self.backbone.weights_sha256, self.backbone.resize_mode):
            h.update(part.encode() + b"\0")
        h.update(images.contiguous().numpy().tobytes())
        return h.hexdigest()[:32]

    def real_stats(self, domain: str) -> RealStats:
        if domain in self._real:
            return self._real[domain]
        path = self.cache_dir / f"{self.cache_key(domain)}.pt"
        feats = None
        if path.is_file():
            try:
                feats = torch.load(path, map_location="cpu", weights_only=True)["features"]
            except Exception:  # a damaged cache entry is recomputed, never trusted
                feats = None
        if feats is None:
            feats = self.features(self.test[domain], "real")
            self._write_cache(path, feats)
        self._real[domain] = RealStats(feats)
        return self._real[domain]

    def _write_cache(self, path: Path, feats: Tensor) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
            with os.fdopen(fd, "wb") as f:
                torch.save({"features": feats}, f)
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable cache only costs time on the next run

    # -- translation ------------------------------------------------------------------------------
    def translate(self, net, images: Tensor) -> Tensor:
        """uint8 images -> uint8 translations, batched on the training device, in float32 (even inside a
        caller's autocast: bf16-rounded generators would make amp and fp32 trials incomparable)."""
        out = []
        with torch.inference_mode(), torch.autocast(self.device.type, enabled=False):
            for start in range(0, len(images), self.cfg.batch_size):
                batch = to_float(images[start:start + self.cfg.batch_size].to(self.device))
                out.append(to_uint8(net(batch)).cpu())
        return torch.cat(out)

    def evaluate(self, G_A, G_B, epoch: int, samples_dir: Path | None) -> tuple[dict, dict, dict]:
        """Return (metrics, provenance, {direction: grid path}) for the current generators."""
        nets = {"a2b": (G_A, G_B, "a", "b"), "b2a": (G_B, G_A, "b", "a")}
        was_training = G_A.training
        G_A.eval(), G_B.eval()
        metrics, counts, grids = {}, {}, {}
        subset = None
        try:
            for direction, (forward, backward, src, dst) in nets.items():
                fake = self.translate(forward, self.test[src])
                fake_feats, real = self.features(fake, "fake"), self.real_stats(dst)
                subset = min(self.cfg.kid_subset_size, len(fake_feats), len(real.features))
                metrics[f"fid_{direction}"] = fid_from_features(fake_feats, real)
                kid, kid_std = kid_from_features(fake_feats, real.features, subset, self.cfg.kid_subsets)
                metrics[f"kid_{direction}"] = kid
                if kid_std is not None:
                    metrics[f"kid_{direction}_std"] = kid_std
                if self.cfg.se_groups:  # absent, not NaN, where too few images allow no estimate
                    for name, value in ((f"fid_{direction}_se", fid_jackknife_se(fake_feats, real, self.cfg.se_groups)),
                                        (f"kid_{direction}_se", kid_standard_error(fake_feats, real.features))):
                        if math.isfinite(value):
                            metrics[name] = value
                truth = self.truth[direction]
                if truth is not None:
                    metrics[f"l1_{direction}"] = float((fake.double() - truth.double()).abs().mean() / 255)
                    metrics[f"psnr_{direction}"] = psnr(fake, truth)
                counts[f"real_{dst}"], counts[f"fake_{direction}"] = len(real.features), len(fake_feats)
                if samples_dir is not None and self.cfg.grid_images:
                    grids[direction] = self.save_grid(forward, backward, self.test[src], fake, samples_dir,
                                                      f"epoch_{epoch:03d}_{direction}.png",
                                                      f"{direction}: {src.upper()} -> {dst.upper()}, epoch {epoch}")
        finally:
            G_A.train(was_training), G_B.train(was_training)
        metrics["fid"] = (metrics["fid_a2b"] + metrics["fid_b2a"]) / 2
        metrics["kid"] = (metrics["kid_a2b"] + metrics["kid_b2a"]) / 2
        for name in ("fid", "kid"):  # the two directions use disjoint test images: independent errors
            if f"{name}_a2b_se" in metrics and f"{name}_b2a_se" in metrics:
                metrics[f"{name}_se"] = math.hypot(metrics[f"{name}_a2b_se"], metrics[f"{name}_b2a_se"]) / 2
        provenance = {"backbone": self.backbone.name, "weights_sha256": self.backbone.weights_sha256,
                      "resize": self.backbone.resize_mode, "kid_subset_size": subset,
                      "kid_subsets": self.cfg.kid_subsets, **counts}
        return metrics, provenance, grids

    def save_grid(self, forward, backward, originals: Tensor, fakes: Tensor, folder: Path, name: str,
                  title: str = "") -> Path:
        """Rows Original | Translated | Reconstructed for the first `grid_images` test images (fixed),
        labelled, under a title naming the direction and epoch: a picture that explains itself."""
        k = min(self.cfg.grid_images, len(originals))
        reconstructed = self.translate(backward, fakes[:k])
        grid = make_grid(torch.cat([originals[:k], fakes[:k], reconstructed]), nrow=k, padding=2, pad_value=255)
        picture = labelled(Image.fromarray(grid.permute(1, 2, 0).numpy()), title,
                           ["Original", "Translated", "Reconstructed"])
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        tmp = folder / f".{name}.tmp"
        picture.save(tmp, format="PNG")
        os.replace(tmp, path)
        return path


def labelled(grid: Image.Image, title: str, rows: list[str]) -> Image.Image:
    """`grid` with a title bar on top and a label at the left of each of its equal-height rows."""
    font = ImageFont.load_default()
    margin = max(int(ImageDraw.Draw(grid).textlength(r, font=font)) for r in rows) + 8
    bar = 16 if title else 0
    out = Image.new("RGB", (grid.width + margin, grid.height + bar), (255, 255, 255))
    out.paste(grid, (margin, bar))
    draw = ImageDraw.Draw(out)
    if title:
        draw.text((4, 2), title, fill=(0, 0, 0), font=font)
    height = grid.height / len(rows)
    for i, row in enumerate(rows):
        draw.text((4, bar + int(height * (i + 0.5)) - 5), row, fill=(0, 0, 0), font=font)
    return out
