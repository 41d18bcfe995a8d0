"""The GPU speed benchmark cannot rot between runs on a GPU (issue 12): `--quick` runs every code path of
`benchmarks/gpu_speed.py` on the CPU with tiny sizes -- the trainer variants (bf16 autocast, channels_last,
torch.compile), the bare loop, two packed trainer processes, and both evaluation backbones, the Inception
one with weights of the right shapes written by the script -- and writes the JSON the README's table
comes from. The side-by-side CPU benchmark (`benchmarks/vs_reference.py`) runs its own side here; the
reference implementation is not shipped, so its side is checked only for the message that says how to
get it."""
import json
import subprocess
import sys

import torch

from tests.helpers import ROOT, assert_user_error


def test_gpu_speed_quick_runs_every_part_and_writes_its_figures(tmp_path):
    out = tmp_path / "speed.json"
    done = subprocess.run([sys.executable, "benchmarks/gpu_speed.py", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["variants"]) == {"fp32", "bf16", "bf16+channels_last", "bf16+channels_last+compile"}
    assert all(v["images_per_s"] > 0 and v["peak_mb"] > 0 for v in report["variants"].values())
    assert report["bare_loop"]["bare_images_per_s"] > 0 and -1 < report["bare_loop"]["overhead"] < 10
    kernels = report["instance_norm_kernels_ms"]
    assert set(kernels) == {"instance_norm fp32", "instance_norm bf16", "group_norm fp32", "group_norm bf16"}
    assert all(ms > 0 for ms in kernels.values())
    assert [p["processes"] for p in report["packing"]] == [1, 2]
    assert all(p["aggregate_images_per_s"] > 0 for p in report["packing"])
    inception = report["evaluation"]["inception"]
    assert inception["feature_images_per_s"] > 0 and inception["evaluate_s"] > 0
    assert inception["real_weights"] is False and "random weights of the right shapes" in done.stdout
    for line in ("trainer bf16+channels_last+compile", "bare hand-written loop", "instance norm kernels",
                 "packed 2 processes", "evaluation, inception backbone"):
        assert line in done.stdout


def write_image_folder(root, count=3, size=48):
    """A CycleGAN folder of real JPEG files (random pixels)."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for split in ("trainA", "trainB", "testA", "testB"):
        (root / split).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)).save(root / split / f"{i}.jpg")
    return root


def test_vs_reference_times_our_side_on_an_image_folder(tmp_path):
    """Our side of the side-by-side CPU benchmark runs (the reference is not shipped, so it cannot run here:
    the figure in the README was taken with a checkout of it)."""
    data = write_image_folder(tmp_path / "d")
    done = subprocess.run([sys.executable, "benchmarks/vs_reference.py", "--data", str(data), "--size", "32",
                           "--ngf", "8", "--blocks", "6", "--max-images", "3", "--rounds", "1",
                           "--variants", "ours fp32", "ours fp32, 1 thread"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line.split() for line in done.stdout.splitlines() if "s/iteration" in line]
    assert len(rows) == 2 and all(float(row[row.index("s/iteration") - 1]) > 0 for row in rows)


def test_vs_reference_without_the_reference_says_how_to_get_it(tmp_path):
    data = write_image_folder(tmp_path / "d", count=1)
    done = subprocess.run([sys.executable, "benchmarks/vs_reference.py", "--data", str(data),
                           "--reference", str(tmp_path / "nowhere")], cwd=ROOT, capture_output=True, text=True)
    assert_user_error(done, "--reference", "git", "junyanz/pytorch-CycleGAN-and-pix2pix")
    done = subprocess.run([sys.executable, "benchmarks/vs_reference.py", "--data", str(tmp_path),
                           "--variants", "ours fp32"], cwd=ROOT, capture_output=True, text=True)
    assert_user_error(done, "--data", "trainA/ trainB/ testA/ testB/")
    if not torch.cuda.is_available():
        done = subprocess.run([sys.executable, "benchmarks/vs_reference.py", "--data", str(data), "--device", "cuda",
                               "--variants", "ours fp32"], cwd=ROOT, capture_output=True, text=True)
        assert_user_error(done, "--device cuda", "--device cpu")


def test_data_efficiency_quick_writes_paired_verdicts_per_size_with_its_commit(tmp_path):
    """`benchmarks/data_efficiency.py --quick`: the published benchmark's every code path in seconds."""
    out = tmp_path / "de.json"
    done = subprocess.run([sys.executable, "benchmarks/data_efficiency.py", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert len(report["commit"]) == 40 and "uncommitted_changes" in report
    runs = report["runs"]
    assert {(r["train_images"], r["diffaugment"]) for r in runs} == {
        (n, p) for n in report["sizes"] for p in ("", report["policy"])}
    assert all(r["epochs"] * r["train_images"] >= report["budget_images_per_domain"] for r in runs)
    for value in ("l1", "fid"):
        comparisons = report["summary"][value]["comparisons"]
        assert [c["train_images"] for c in comparisons] == report["sizes"] and all(c["seeds"] == 3 for c in comparisons)
        assert report["summary"][value]["conclusion"].startswith("DiffAugment (color,translation,cutout)")
    assert "paired by seed" in done.stdout and out.with_suffix(".png").is_file()
