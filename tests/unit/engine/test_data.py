import io

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan.configtools import UserError
from cyclegan.config import load_config
from cyclegan.data import list_images, load_data, load_folder, load_image
from cyclegan.synthetic import make_synthetic, paint, photos


def save(path, image, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kw)
    return path


def test_odd_modes_and_extensions_become_rgb(tmp_path):
    d = tmp_path / "trainA"
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8))
    save(d / "gray.png", rgb.convert("L"))
    save(d / "rgba.png", rgb.convert("RGBA"))
    save(d / "palette.png", rgb.convert("P"))
    save(d / "cmyk.jpg", rgb.convert("CMYK"))
    save(d / "upper.JPG", rgb)
    save(d / "photo.jpeg", rgb)
    save(d / "web.webp", rgb)
    save(d / "deep16.png", Image.fromarray((np.arange(600, dtype=np.uint16).reshape(20, 30) * 100)))
    save(d / "with space é.png", rgb)
    (d / ".DS_Store").write_bytes(b"\0\0junk")
    save(d / "._hidden.jpg", rgb)
    (d / "notes.txt").write_text("not an image")
    files = list_images(d)
    assert len(files) == 9 and all(not f.name.startswith(".") for f in files)
    images, names = load_folder(d, size=16)
    assert images.shape == (9, 3, 16, 16) and images.dtype == torch.uint8
    assert "with space é.png" in names
    deep = images[names.index("deep16.png")]
    assert deep.max() > 200  # 16-bit range scaled down, not clipped to white or black


def test_exif_rotation_is_respected(tmp_path):
    wide = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    path = save(tmp_path / "rot.jpg", wide, exif=exif.tobytes())
    assert tuple(load_image(path).shape) == (3, 40, 20)


@pytest.mark.parametrize("content", [b"", b"this is text, not a jpeg", "truncated"])
def test_unreadable_images_are_named(tmp_path, content):
    d = tmp_path / "trainA"
    save(d / "good.jpg", Image.new("RGB", (8, 8)))
    if content == "truncated":
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
        content = buf.getvalue()[: len(buf.getvalue()) // 2]
    (d / "bad.jpg").write_bytes(content)
    with pytest.raises(UserError, match="bad.jpg"):
        load_folder(d, size=8)
    images, names = load_folder(d, size=8, skip_bad=True)
    assert names == ["good.jpg"]


def test_missing_or_empty_folders(tmp_path):
    with pytest.raises(UserError, match="missing image folder"):
        list_images(tmp_path / "trainA")
    (tmp_path / "trainA").mkdir()
    with pytest.raises(UserError, match="no images in"):
        list_images(tmp_path / "trainA")


def test_synthetic_is_deterministic_unpaired_and_has_truth():
    a, b = make_synthetic(8, 4, 20, 16), make_synthetic(8, 4, 20, 16)
    assert torch.equal(a.train_a, b.train_a) and torch.equal(a.test_b, b.test_b)
    assert a.train_a.shape == (8, 3, 20, 20) and a.test_a.shape == (4, 3, 16, 16)
    assert torch.equal(a.truth_a2b, a.test_b) and torch.equal(a.truth_b2a, a.test_a)
    # train B is painted from other photos than train A (unpaired)
    assert not torch.equal(a.train_b, make_synthetic(8, 4, 20, 16).train_b * 0 + paint_u8(a.train_a))


def paint_u8(images):
    from cyclegan.data import to_float, to_uint8
    return to_uint8(paint(to_float(images)))


def test_batches_replay_exactly_from_seed_and_epoch():
    data = make_synthetic(10, 2, 20, 16)
    first = list(data.batches(epoch=3, batch_size=4, crop_size=16, seed=7))
    again = list(data.batches(epoch=3, batch_size=4, crop_size=16, seed=7))
    other = list(data.batches(epoch=4, batch_size=4, crop_size=16, seed=7))
    assert len(first) == 3 and first[0][0].shape == (4, 3, 16, 16) and first[-1][0].shape[0] == 2
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(first, again))
    assert not torch.equal(first[0][0], other[0][0])
    assert first[0][0].min() >= -1 and first[0][0].max() <= 1


def test_photos_have_structure():
    x = photos(2, 32, seed=0)
    assert x.std() > 0.1 and (paint(x) - x).abs().mean() > 0.2


def test_train_images_stay_on_the_host_for_a_cpu_run_or_when_asked():
    from cyclegan.data import place_train_images
    data = make_synthetic(4, 2, 36, 32, 0)
    for placement in ("auto", "device", "host"):
        placed, moved = place_train_images(data, torch.device("cpu"), placement)
        assert placed is data and not moved


def test_device_resident_batches_are_the_host_batches():
    """On a GPU the train images live on the device and are cropped there; the crops and flips still come
    from the CPU generator of (seed, epoch), so the batches, and a resumed epoch, are the same."""
    from cyclegan.data import place_train_images
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (the device-resident path; the CPU path is the host path)")
    data = make_synthetic(6, 2, 36, 32, 0)
    placed, moved = place_train_images(data, torch.device("cuda"), "device")
    assert moved and placed.train_a.is_cuda
    for (a, b), (ga, gb) in zip(data.batches(3, 2, 32, 7), placed.batches(3, 2, 32, 7), strict=True):
        assert ga.is_cuda and torch.equal(a, ga.cpu()) and torch.equal(b, gb.cpu())


def _rows(images):
    return {bytes(img.numpy()) for img in images}


def test_train_images_is_a_nested_seeded_subset_of_the_train_split_only():
    base = ["data.name=synthetic", "data.load_size=20", "data.crop_size=16", "data.synthetic_train_size=40",
            "data.synthetic_test_size=10", "model.g_depth=2", "model.d_layers=2"]
    full = load_data(load_config(base))
    small, large = (load_data(load_config(base + [f"data.train_images={n}"])) for n in (8, 16))
    assert len(small.train_a) == len(small.train_b) == 8 and len(large.train_a) == 16
    for split in ("test_a", "test_b", "truth_a2b", "truth_b2a"):  # FID's images are the same at every size
        assert torch.equal(getattr(small, split), getattr(full, split)), split
    for domain in ("train_a", "train_b"):
        assert _rows(getattr(small, domain)) <= _rows(getattr(large, domain)) <= _rows(getattr(full, domain))
    other_seed = load_data(load_config(base + ["data.train_images=8", "train.seed=1"]))
    assert _rows(other_seed.train_a) != _rows(small.train_a)  # each seed its own subset (paired across arms)
    assert torch.equal(load_data(load_config(base + ["data.train_images=8"])).train_a, small.train_a)
    with pytest.raises(UserError, match="only 40 images"):
        load_data(load_config(base + ["data.train_images=41"]))
