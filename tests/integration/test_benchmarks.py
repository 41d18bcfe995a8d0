"""The GPU speed benchmark cannot rot between runs on a GPU (issue 12): `--quick` runs every code path of
`benchmarks/gpu_speed.py` on the CPU with tiny sizes -- the trainer variants (bf16 autocast, channels_last,
torch.compile), the bare loop, two packed trainer processes, and both evaluation backbones, the Inception
one with weights of the right shapes written by the script -- and writes the JSON the README's table
comes from."""
import json
import subprocess
import sys

from tests.helpers import ROOT


def test_gpu_speed_quick_runs_every_part_and_writes_its_figures(tmp_path):
    out = tmp_path / "speed.json"
    done = subprocess.run([sys.executable, "benchmarks/gpu_speed.py", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["variants"]) == {"fp32", "bf16", "bf16+channels_last", "bf16+channels_last+compile"}
    assert all(v["images_per_s"] > 0 and v["peak_mb"] > 0 for v in report["variants"].values())
    assert report["bare_loop"]["bare_images_per_s"] > 0 and -1 < report["bare_loop"]["overhead"] < 10
    assert [p["processes"] for p in report["packing"]] == [1, 2]
    assert all(p["aggregate_images_per_s"] > 0 for p in report["packing"])
    inception = report["evaluation"]["inception"]
    assert inception["feature_images_per_s"] > 0 and inception["evaluate_s"] > 0
    assert inception["real_weights"] is False and "random weights of the right shapes" in done.stdout
    for line in ("trainer bf16+channels_last+compile", "bare hand-written loop", "packed 2 processes",
                 "evaluation, inception backbone"):
        assert line in done.stdout
