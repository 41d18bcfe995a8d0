"""Shared fixtures. Everything runs offline on a CPU; the real sample data in ../shared is optional."""
import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own cache (real stats, datasets, torch hub): no test sees the user's."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("CATHOLIC2GOGH_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))
    # and its own key for signing Tune's state (not the user's ~/.config/catholic2gogh/tune-state.key)
    monkeypatch.setenv("CATHOLIC2GOGH_STATE_KEY_FILE", str(cache.parent / "config" / "tune-state.key"))
    return cache
