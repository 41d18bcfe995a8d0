"""A finished trial keeps its newest generators, grids and metrics; the engine state goes (issue 13, item 4)."""
from types import SimpleNamespace

from tuning.trial_storage import compact_finished


def trial(root, name, checkpoints):
    folder = root / name
    for index in checkpoints:
        ckpt = folder / f"checkpoint_{index:06d}"
        ckpt.mkdir(parents=True)
        (ckpt / "last.pt").write_bytes(b"e" * 1000)
        (ckpt / "generators.pt").write_bytes(b"g" * 100)
        (ckpt / "b2a.png").write_bytes(b"png")
    return SimpleNamespace(path=str(folder), error=None)


def test_finished_trials_keep_only_their_newest_generators(tmp_path):
    done = trial(tmp_path, "done", [9, 10])  # 10 sorts before 9 as text: the newest is found by number
    failed = trial(tmp_path, "failed", [1, 2])
    failed.error = RuntimeError("diverged")
    assert compact_finished([done, failed]) == 2 * 1000 + 100
    kept = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "done").rglob("*") if p.is_file())
    assert kept == ["done/checkpoint_000009/b2a.png", "done/checkpoint_000010/b2a.png",
                    "done/checkpoint_000010/generators.pt"]
    assert len(list((tmp_path / "failed").rglob("last.pt"))) == 2  # failed trials keep everything
