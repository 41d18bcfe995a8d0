"""Ray Tune's experiment state is pickled; `resume=true` unpickles it only if this machine's key signed it.

`Tuner.restore` unpickles `tuner.pkl`, `searcher-state-*.pkl`, `search_gen_state-*.json` and the
cloudpickle payloads inside `experiment_state-*.json`. Anyone who can write to `study.out_dir` (in deploy/
a shared volume) could otherwise replace one with a `__reduce__` payload and run code in the launcher.
So every version of those files the launcher writes is signed with an HMAC-SHA256 whose key lives outside
`study.out_dir`: `$CATHOLIC2GOGH_STATE_KEY_FILE`, or `~/.config/catholic2gogh/tune-state.key` (created on
first use, mode 0600; in deploy/ a Kubernetes secret). Before restoring, every state file must carry a
known signature; one that does not is refused (exit 2) before anything is unpickled.

Signatures are added by `StateSigner` (a Tune callback) right after Tune saves its state in each loop
step, and once more by the launcher after Tune's final save. The manifest lives beside the experiment
folder, not in it: on restore Tune copies the whole experiment folder into its staging folder and copies that
back in the background, which would put an old manifest over the new one while the signer writes it. The
manifest keeps the last few signatures of each file, so a file whose copy into `study.out_dir` was still
under way when the launcher was killed verifies as well. (A kill inside the few milliseconds between Tune's
save and the signer leaves an unsigned newest state: resume is then refused, and a new launch continues the
study from Optuna's storage.)
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from ray.tune import Callback

from cyclegan.configtools import UserError

MANIFEST = ".state-signatures.json"  # suffix of <out_dir>/<experiment>.state-signatures.json
STATE_PATTERNS = ("tuner.pkl", "experiment_state-*.json", "searcher-state-*.pkl", "search_gen_state-*.json",
                  "callback-states-*.pkl", "basic-variant-state-*.json")
KEEP = 4  # signatures kept per file


def key_path() -> Path:
    explicit = os.environ.get("CATHOLIC2GOGH_STATE_KEY_FILE")
    if explicit:
        return Path(explicit).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "catholic2gogh" / "tune-state.key"


def state_key() -> bytes:
    """This machine's key, created on first use (readable by its owner only)."""
    path = key_path()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def state_files(folder: Path) -> list[Path]:
    return sorted(p for pattern in STATE_PATTERNS for p in folder.glob(pattern) if p.is_file())


def digest(path: Path, key: bytes) -> str:
    return hmac.new(key, path.read_bytes(), hashlib.sha256).hexdigest()


def manifest_path(experiment_dir: Path) -> Path:
    return experiment_dir.with_name(experiment_dir.name + MANIFEST)


def read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}  # unreadable: no signature is known, so nothing verifies
    return manifest if isinstance(manifest, dict) else {}


def sign(folder: Path, experiment_dir: Path | None = None) -> None:
    """Add the signatures of the state files in `folder` to the manifest of `experiment_dir` (default: the
    same folder; the launcher's signer signs Tune's staging copy for the experiment in out_dir)."""
    key, path = state_key(), manifest_path(experiment_dir or folder)
    manifest = read_manifest(path)
    for state in state_files(folder):
        known = manifest.setdefault(state.name, [])
        value = digest(state, key)
        if value not in known:
            manifest[state.name] = (known + [value])[-KEEP:]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(path)  # atomic: a reader sees the old manifest or the new one


def verify(folder: Path) -> None:
    """UserError unless every state file in `folder` carries a signature made with this machine's key."""
    manifest, key = read_manifest(manifest_path(folder)), state_key()
    for path in state_files(folder):
        if not any(hmac.compare_digest(digest(path, key), known) for known in manifest.get(path.name, [])):
            raise UserError(f"{path} was not written by a launch signed with this machine's key ({key_path()}); "
                            "refusing to unpickle it. Drop resume=true: a new launch continues the study from "
                            "its Optuna and MLflow stores without reading Tune's files")


class StateSigner(Callback):
    """Signs Tune's experiment state right after Tune saves it in a loop step (same thread, so the
    signature is written before the launcher can be stopped between the two). Picklable: Tune stores
    its callbacks in tuner.pkl and restores them with the experiment."""

    def __init__(self, experiment_dir: Path):
        self.experiment_dir = Path(experiment_dir)
        self._seen: dict[str, tuple[int, int]] = {}

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        if not trials:
            return
        staging = Path(trials[0].storage.experiment_driver_staging_path)
        files = state_files(staging)
        stamp = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in files}
        if stamp != self._seen:
            sign(staging, experiment_dir=self.experiment_dir)
            self._seen = stamp

    def __getstate__(self) -> dict:
        return {"experiment_dir": self.experiment_dir, "_seen": {}}
