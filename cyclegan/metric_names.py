"""The metric-name contract (SPEC §3): the trainer writes these, Tune reports them, MLflow logs them,
dashboards read them. Domains: A = trainA/testA, B = trainB/testB; `b2a` is photo -> painting in the
official painting sets."""

LOSSES = ("loss_G", "loss_D", "loss_gan_a2b", "loss_gan_b2a", "loss_cyc_a", "loss_cyc_b", "loss_id_a", "loss_id_b")
QUALITY = ("fid_a2b", "fid_b2a", "kid_a2b", "kid_b2a", "kid_a2b_std", "kid_b2a_std", "fid", "kid")
# Standard error of each quality number over the test images (evaluation noise, see cyclegan/evaluation.py)
STANDARD_ERRORS = ("fid_a2b_se", "fid_b2a_se", "fid_se", "kid_a2b_se", "kid_b2a_se", "kid_se")
GROUND_TRUTH = ("l1_a2b", "l1_b2a", "psnr_a2b", "psnr_b2a")  # synthetic data only
PROGRESS = ("epoch", "time_s", "images_per_s", "lr_g", "lr_d")
ALL = LOSSES + QUALITY + STANDARD_ERRORS + GROUND_TRUTH + PROGRESS
PROVENANCE = ("backbone", "weights_sha256", "resize", "kid_subset_size", "kid_subsets", "amp")


def standard_error_of(metric: str) -> str | None:
    """The name of `metric`'s standard error, where one is measured (fid_b2a -> fid_b2a_se)."""
    name = f"{metric}_se"
    return name if name in STANDARD_ERRORS else None
