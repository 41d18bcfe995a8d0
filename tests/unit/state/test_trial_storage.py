"""A finished trial keeps its newest generators, grids and metrics; the engine state goes (issue 13, item 4),
and only that of trials that ended without error (issue 21: failed and unfinished trials keep theirs)."""
from tuning.state.trial_records import TrialRecord, trial_folder
from tuning.state.trial_storage import compact_launch


def tune_trial(root, name, checkpoints):
    folder = root / name
    for index in checkpoints:
        ckpt = folder / f"checkpoint_{index:06d}"
        ckpt.mkdir(parents=True)
        (ckpt / "generators.pt").write_bytes(b"g" * 100)
        (ckpt / "b2a.png").write_bytes(b"png")
    return folder


def engine_state(out, key):
    path = trial_folder(out, key) / "checkpoints" / "last.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"e" * 1000)
    return path


def test_finished_trials_keep_only_their_newest_generators_and_no_engine_state(tmp_path):
    tune_trial(tmp_path / "smoke-1", "run_trial_a", [9, 10])  # 10 sorts before 9 as text: newest found by number
    records = [TrialRecord(key, "smoke-1", "search", {}, status=status)
               for key, status in (("t0001", "complete"), ("t0002", "stopped"), ("t0003", "failed"),
                                   ("t0004", "running"))]
    states = {r.key: engine_state(tmp_path, r.key) for r in records}
    assert compact_launch(tmp_path, records, ["smoke-1"]) == 2 * 1000 + 100
    kept = sorted(p.relative_to(tmp_path / "smoke-1").as_posix() for p in (tmp_path / "smoke-1").rglob("*") if p.is_file())
    assert kept == ["run_trial_a/checkpoint_000009/b2a.png", "run_trial_a/checkpoint_000010/b2a.png",
                    "run_trial_a/checkpoint_000010/generators.pt"]
    assert {k for k, p in states.items() if p.is_file()} == {"t0003", "t0004"}  # failed, unfinished: kept
