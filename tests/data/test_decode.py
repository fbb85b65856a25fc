import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_rgb
from tokkit.data.decode import UnreadableImage, read_image


def test_rgb_png_roundtrips_exactly(tmp_path):
    arr = write_rgb(tmp_path / "x.png", 7, 9)
    np.testing.assert_array_equal(read_image(tmp_path / "x.png"), arr)


@pytest.mark.parametrize("name", ["empty.png", "text.png", "truncated.jpg"])
def test_bad_files_raise(messy_folder, name):
    with pytest.raises(UnreadableImage):
        read_image(messy_folder / name)


def test_grayscale_becomes_three_equal_channels(messy_folder):
    img = read_image(messy_folder / "gray.png")
    assert img.shape == (32, 32, 3) and (img == 200).all()


def test_16bit_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 64).astype(np.uint16).reshape(8, 8)
    Image.fromarray(ramp).save(tmp_path / "r.png")
    img = read_image(tmp_path / "r.png")
    np.testing.assert_array_equal(img[..., 0], np.rint(ramp / 65535 * 255).astype(np.uint8))


def test_cmyk_is_converted(messy_folder):
    img = read_image(messy_folder / "cmyk.jpg")
    assert img.shape == (30, 28, 3)
    # C=0, M=Y=255 is red; JPEG loses a little
    assert img[..., 0].mean() > 200 and img[..., 1].mean() < 60 and img[..., 2].mean() < 60


def test_alpha_is_composited_on_white(messy_folder):
    img = read_image(messy_folder / "alpha.png")
    assert img.shape == (20, 20, 3)
    np.testing.assert_allclose(img[0, 0], [255, 127, 127], atol=1)


def test_exif_orientation_is_applied(tmp_path):
    arr = write_rgb(tmp_path / "o.png", 10, 20)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    img.save(tmp_path / "o.jpg", exif=exif, quality=100)
    assert read_image(tmp_path / "o.jpg").shape == (20, 10, 3)
