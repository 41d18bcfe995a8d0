"""Shared fixtures. Everything runs offline on a CPU; the real sample data in ../shared is optional."""
import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own cache (real stats, datasets, torch hub): no test sees the user's."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("CATHOLIC2GOGH_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))
    return cache
