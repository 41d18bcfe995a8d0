"""Tune's pickled state is unpickled on resume only if this machine's key signed it (issue 14, item 10).
The end-to-end case (a `__reduce__` payload in tuner.pkl never runs) is in integration/test_security.py."""
import shutil
import stat

import pytest

from cyclegan.configtools import UserError
from tuning import tune_state


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    path = tmp_path / "config" / "tune-state.key"
    monkeypatch.setenv("CATHOLIC2GOGH_STATE_KEY_FILE", str(path))
    return path


def state_folder(tmp_path):
    folder = tmp_path / "study" / "smoke-1"
    folder.mkdir(parents=True)
    (folder / "tuner.pkl").write_bytes(b"tuner v1")
    (folder / "experiment_state-1.json").write_text('{"trial_data": []}')
    (folder / "searcher-state-1.pkl").write_bytes(b"searcher")
    return folder


def test_signed_state_verifies_and_the_key_is_private_and_elsewhere(tmp_path, key_file):
    folder = state_folder(tmp_path)
    tune_state.sign(folder)
    tune_state.verify(folder)
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert folder not in key_file.parents


@pytest.mark.parametrize("attack", ["tamper", "add", "unsigned", "other key"])
def test_state_that_this_key_did_not_sign_is_refused(tmp_path, key_file, attack):
    folder = state_folder(tmp_path)
    if attack != "unsigned":
        tune_state.sign(folder)
    if attack == "tamper":
        (folder / "tuner.pkl").write_bytes(b"cos\nsystem\n(S'touch /tmp/x'\ntR.")
    elif attack == "add":
        (folder / "callback-states-2.pkl").write_bytes(b"new pickle")
    elif attack == "other key":
        key_file.write_text("0" * 64)
    with pytest.raises(UserError, match="refusing to unpickle it"):
        tune_state.verify(folder)


def test_earlier_versions_still_verify(tmp_path, key_file):
    """Tune copies its state into out_dir in the background: after a kill the copy may be one save behind."""
    folder = state_folder(tmp_path)
    tune_state.sign(folder)
    old = (folder / "experiment_state-1.json").read_bytes()
    (folder / "experiment_state-1.json").write_text('{"trial_data": [1]}')
    tune_state.sign(folder)
    (folder / "experiment_state-1.json").write_bytes(old)
    tune_state.verify(folder)


def test_tunes_copies_of_the_experiment_folder_cannot_put_old_signatures_back(tmp_path, key_file):
    """On restore Tune copies the experiment folder into its staging folder (sync down) and copies staging back
    in the background (sync up) while the signer writes. A manifest inside the folder would travel with those
    copies: an old one lands over the new one, and the next resume is refused (CI saw a half-copied one)."""
    folder = state_folder(tmp_path)
    tune_state.sign(folder)
    staging = tmp_path / "ray-staging" / folder.name
    shutil.copytree(folder, staging)  # sync down
    (staging / "experiment_state-1.json").write_text('{"trial_data": [2]}')  # Tune saves in the resumed loop
    tune_state.sign(staging, experiment_dir=folder)  # the StateSigner
    shutil.copytree(staging, folder, dirs_exist_ok=True)  # sync up
    tune_state.verify(folder)


def test_an_unreadable_manifest_verifies_nothing(tmp_path, key_file):
    folder = state_folder(tmp_path)
    tune_state.sign(folder)
    tune_state.manifest_path(folder).write_text("")
    with pytest.raises(UserError, match="refusing to unpickle it"):
        tune_state.verify(folder)
    tune_state.sign(folder)  # the launcher's own next signature starts a fresh manifest
    tune_state.verify(folder)
