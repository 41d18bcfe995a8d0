"""Training and evaluation speed where studies run: one command, one table (issue 12).

    python benchmarks/gpu_speed.py --out gpu_speed.json      # on one GPU: under 8 minutes on an H100
    python benchmarks/gpu_speed.py --quick                   # the same code paths on the CPU, tiny sizes

What it measures, each after a warm-up, at ResNet-9 / ngf 64 / 256 px / batch 1 (the study default):
- our trainer (`Trainer.train_epoch`, the exact code a trial runs) in fp32 (TF32 off), TF32, bf16
  autocast (`train.amp=true`), bf16 + `train.channels_last=true`, and + `train.compile=true`:
  images/s (= iterations/s x batch) and peak GPU memory;
- a bare hand-written CycleGAN loop at the same settings (benchmarks/train_overhead.py): our overhead;
- instance norm as `instance_norm` or as `group_norm` (benchmarks/norm_kernels.py): which kernel the
  device should use (`InstanceNorm2d.group_norm_devices`);
- packing: 1, 2, 4, 8 trainer processes on the same GPU at once (what `trial.gpus=1/N` does), each timed
  over the same window after all have warmed up: aggregate images/s and the memory of each;
- evaluation: backbone feature throughput and one `Evaluator.evaluate()` on a test split of 500 images per
  domain. The FID Inception weights are taken from `--inception-weights` or the torch hub cache; where
  neither has them, the script writes weights of the right shapes with random values (said in the table:
  the speed is the same, the FID values mean nothing).
The table is printed and written as JSON to `--out`. On the CPU (no GPU, or `--quick`) memory is the peak
resident set size of the process.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cyclegan.config import load_config  # noqa: E402
from cyclegan.trainer import Trainer  # noqa: E402
from norm_kernels import time_norm_kernels  # noqa: E402
from train_overhead import bare_loop  # noqa: E402

FULL = {"size": 256, "ngf": 64, "blocks": 9, "iters": 40, "warmup": 10, "pack": [1, 2, 4, 8], "pack_s": 20.0,
        "eval_images": 500, "eval_size": 256}
QUICK = {"size": 32, "ngf": 8, "blocks": 2, "iters": 4, "warmup": 1, "pack": [1, 2], "pack_s": 3.0,
         "eval_images": 12, "eval_size": 32}
VARIANTS = {  # name -> (engine overrides, TF32 on)
    "fp32": ([], False),
    "tf32": ([], True),
    "bf16": (["train.amp=true"], True),
    "bf16+channels_last": (["train.amp=true", "train.channels_last=true"], True),
    "bf16+channels_last+compile": (["train.amp=true", "train.channels_last=true", "train.compile=true"], True),
}


def engine_config(p: dict, device: str, out: str, extra: list[str], train_images: int):
    return load_config([
        "data.name=synthetic", f"data.load_size={p['size']}", f"data.crop_size={p['size']}",
        f"data.synthetic_train_size={train_images}", "data.synthetic_test_size=2",
        f"model.ngf={p['ngf']}", f"model.ndf={p['ngf']}", f"model.g_depth={p['blocks']}",
        "train.batch_size=1", "eval.every=0", f"train.out_dir={out}", "train.epochs=100000",
        f"train.device={device}", *extra])


def set_tf32(on: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on  # PyTorch's default is on for convolutions: fp32 must turn it off


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def time_trainer(p: dict, device: str, extra: list[str]) -> dict:
    """Images/s of `Trainer.train_epoch` (an epoch = `iters` iterations) after `warmup` iterations."""
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(engine_config(p, device, out, extra, p["iters"]), log=lambda *a: None, progress=False)
        reset_peak(device)
        first = time.perf_counter()
        trainer.train_epoch(1)  # warm-up: cuDNN autotuning, compilation, the allocator's pools
        sync(device)
        warmup_s = time.perf_counter() - first
        start = time.perf_counter()
        trainer.train_epoch(2)
        sync(device)
        seconds = time.perf_counter() - start
        return {"images_per_s": p["iters"] / seconds, "peak_mb": peak_mb(device), "first_epoch_s": warmup_s}


def time_bare(p: dict, device: str) -> dict:
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(engine_config(p, device, out, [], p["iters"]), log=lambda *a: None, progress=False)
        nets = [trainer.nets[k] for k in ("G_A", "G_B", "D_A", "D_B")]
        batches = [(a.to(device), b.to(device)) for a, b in trainer.data.batches(1, 1, p["size"], 0)]
        bare_loop(nets, batches[:p["warmup"]])
        sync(device)
        start = time.perf_counter()
        bare_loop(nets, batches)
        sync(device)
        return {"images_per_s": len(batches) / (time.perf_counter() - start)}


# -- packing: N trainer processes on one device ------------------------------------------------------
def worker(args) -> None:
    """One packed trial: warm up, say so, wait for the common start, train for `--seconds`, print JSON."""
    p = QUICK if args.quick else FULL
    set_tf32(True)
    with tempfile.TemporaryDirectory() as out:
        cfg = engine_config(p, args.device, out, ["train.amp=true", "train.channels_last=true", "train.threads=1"]
                            if args.device == "cpu" else ["train.amp=true", "train.channels_last=true"], 8)
        trainer = Trainer(cfg, log=lambda *a: None, progress=False)
        steps = trainer.data.steps_per_epoch(1)
        trainer.train_epoch(1)  # warm-up
        sync(args.device)
        Path(args.ready).touch()
        while not Path(args.go).exists():
            time.sleep(0.01)
        start, done, epoch = time.perf_counter(), 0, 1
        while time.perf_counter() - start < args.seconds:
            epoch += 1
            trainer.train_epoch(epoch)
            done += steps
        sync(args.device)
        rate = done / (time.perf_counter() - start)
    print(json.dumps({"images_per_s": rate, "peak_mb": peak_mb(args.device)}), flush=True)


def time_packed(n: int, p: dict, device: str, quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        go = Path(tmp) / "go"
        procs, ready = [], []
        for i in range(n):
            ready.append(Path(tmp) / f"ready{i}")
            cmd = [sys.executable, __file__, "--worker", "--device", device, "--ready", str(ready[-1]), "--go", str(go),
                   "--seconds", str(p["pack_s"])] + (["--quick"] if quick else [])
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
        deadline = time.time() + 600
        while not all(r.exists() for r in ready):
            if any(proc.poll() is not None for proc in procs) or time.time() > deadline:
                for proc in procs:
                    proc.kill()
                raise RuntimeError(f"a packed trainer ended before it was ready ({n} processes)")
            time.sleep(0.05)
        go.touch()
        results = [json.loads(proc.communicate(timeout=600)[0].strip().splitlines()[-1]) for proc in procs]
    rates = [r["images_per_s"] for r in results]
    return {"processes": n, "aggregate_images_per_s": sum(rates), "per_process_images_per_s": statistics.mean(rates),
            "peak_mb_per_process": max(r["peak_mb"] for r in results)}


# -- evaluation -------------------------------------------------------------------------------------
def inception_weights(path: str | None, tmp: str) -> tuple[Path, bool]:
    """(weights file, real?): the given file, the torch hub cache, or random weights of the right shapes."""
    from cyclegan.backbones import INCEPTION_FILE
    candidates = [Path(path)] if path else [Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE]
    for candidate in candidates:
        if candidate.is_file():
            return candidate, True
    import torch_fidelity.feature_extractor_inceptionv3 as fe
    # Build the module without its download (these machines are offline), then write random weights of its
    # shapes: the speed of a forward does not depend on the values.
    load_url, load_sd = fe.load_state_dict_from_url, fe.FeatureExtractorInceptionV3.load_state_dict
    fe.load_state_dict_from_url = lambda *a, **k: {}
    fe.FeatureExtractorInceptionV3.load_state_dict = lambda self, sd, *a, **k: None
    try:
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    finally:
        fe.load_state_dict_from_url, fe.FeatureExtractorInceptionV3.load_state_dict = load_url, load_sd
    g = torch.Generator().manual_seed(0)
    def value(key, v):
        if not v.is_floating_point():
            return v
        if key.endswith("running_var"):
            return torch.ones_like(v)  # a random variance could be negative: NaN features
        return torch.zeros_like(v) if key.endswith("running_mean") else torch.randn(v.shape, generator=g) * 0.05
    state = {k: value(k, v) for k, v in net.state_dict().items()}
    out = Path(tmp) / INCEPTION_FILE
    torch.save(state, out)
    return out, False


def time_evaluation(p: dict, device: str, backbone: str, weights: str | None) -> dict:
    from cyclegan.evaluation import Evaluator
    from cyclegan.networks import build_generator
    n = p["eval_images"]
    with tempfile.TemporaryDirectory() as tmp:
        extra = [f"eval.backbone={backbone}", f"eval.cache_dir={tmp}/cache", f"eval.num_images={n}"]
        real = True
        if backbone == "inception":
            path, real = inception_weights(weights, tmp)
            extra += [f"eval.inception_weights={path}", "eval.inception_sha256=''"]
        cfg = load_config(["data.name=synthetic", f"data.load_size={p['eval_size']}", f"data.crop_size={p['eval_size']}",
                           "data.synthetic_train_size=2", f"data.synthetic_test_size={n}", f"model.ngf={p['ngf']}",
                           f"model.g_depth={p['blocks']}", f"train.device={device}", *extra])
        from cyclegan.data import load_data
        data = load_data(cfg)
        evaluator = Evaluator(cfg.eval, data, torch.device(device))
        images = data.test_a
        evaluator.features(images[:cfg.eval.batch_size], "warm-up")
        sync(device)
        start = time.perf_counter()
        evaluator.features(images, "real")
        sync(device)
        feature_rate = len(images) / (time.perf_counter() - start)
        G_A, G_B = build_generator(cfg.model).to(device), build_generator(cfg.model).to(device)
        evaluator.evaluate(G_A, G_B, 1, None)  # real statistics into the cache, as a study's first evaluation
        sync(device)
        start = time.perf_counter()
        evaluator.evaluate(G_A, G_B, 2, None)
        sync(device)
        return {"backbone": backbone, "real_weights": real, "test_images_per_domain": n,
                "feature_images_per_s": feature_rate, "evaluate_s": time.perf_counter() - start}


# -- the table --------------------------------------------------------------------------------------
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes on the CPU (a test of the script)")
    ap.add_argument("--out", help="write the figures as JSON here")
    ap.add_argument("--inception-weights", help="the FID Inception weights file (else: hub cache, or random)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: variants,bare,norms,packing,eval")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--device", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--ready", help=argparse.SUPPRESS)
    ap.add_argument("--go", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=20.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return {}
    device = "cpu" if args.quick or not torch.cuda.is_available() else "cuda"
    p = QUICK if args.quick else FULL
    skip = set(filter(None, args.skip.split(",")))
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    report = {"device": name, "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "settings": p,
              "variants": {}, "packing": [], "evaluation": {}}
    print(f"{name}, torch {torch.__version__}: ResNet-{p['blocks']}, ngf {p['ngf']}, {p['size']} px, batch 1")
    if "variants" not in skip:
        for variant, (extra, tf32) in VARIANTS.items():
            if device == "cpu" and variant == "tf32":
                continue  # TF32 is a CUDA setting
            set_tf32(tf32)
            report["variants"][variant] = r = time_trainer(p, device, extra)
            print(f"  trainer {variant:28s} {r['images_per_s']:8.2f} images/s   peak {r['peak_mb']:8.0f} MB   "
                  f"(first epoch {r['first_epoch_s']:.1f} s)", flush=True)
    if "bare" not in skip:
        set_tf32(False)
        ours = time_trainer(p, device, [])
        bare = time_bare(p, device)
        report["bare_loop"] = {"trainer_images_per_s": ours["images_per_s"], "bare_images_per_s": bare["images_per_s"],
                               "overhead": bare["images_per_s"] / ours["images_per_s"] - 1}
        print(f"  bare hand-written loop (fp32)        {bare['images_per_s']:8.2f} images/s   our overhead "
              f"{report['bare_loop']['overhead'] * 100:+.1f} % (target <= 5 %)", flush=True)
    if "norms" not in skip:
        set_tf32(True)
        report["instance_norm_kernels_ms"] = ms = time_norm_kernels(
            device, p["size"], p["ngf"], p["blocks"], iters=2 if args.quick else 10, rounds=1 if args.quick else 3)
        print("  instance norm kernels, generator fwd+bwd at batch 2: "
              + ", ".join(f"{name} {value:.1f} ms" for name, value in ms.items()), flush=True)
    if "packing" not in skip:
        for n in p["pack"]:
            r = time_packed(n, p, device, args.quick)
            report["packing"].append(r)
            print(f"  packed {n} processes (bf16+channels_last)  {r['aggregate_images_per_s']:8.2f} images/s aggregate, "
                  f"{r['per_process_images_per_s']:.2f} each, peak {r['peak_mb_per_process']:.0f} MB each", flush=True)
    if "eval" not in skip:
        set_tf32(False)
        for backbone in (["tiny", "inception"]):
            r = time_evaluation(p, device, backbone, args.inception_weights)
            report["evaluation"][backbone] = r
            note = "" if r["real_weights"] or backbone == "tiny" else " (random weights of the right shapes)"
            print(f"  evaluation, {backbone} backbone{note}: {r['feature_images_per_s']:.1f} images/s of features; "
                  f"evaluate() on {r['test_images_per_domain']} test images per domain {r['evaluate_s']:.2f} s", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
