"""The grid helper and the pixel convention."""

import numpy as np
import pytest

from gan import outputs
import utils


def test_to_uint8_maps_tanh_range():
    np.testing.assert_array_equal(outputs.to_uint8(np.array([-1.0, 0.0, 1.0, 3.0])),
                                  [0, 128, 255, 255])


def test_grid_has_one_pixel_borders():
    images = np.full((6, 4, 5, 1), 255, np.uint8)
    grid = utils.montage(images, rows=2)
    assert grid.shape == (1 + 2 * 5, 1 + 3 * 6)
    assert (grid[0] == 128).all() and (grid[:, 0] == 128).all()
    assert (grid[1:5, 1:6] == 255).all()


def test_loss_log_truncates_on_resume(tmp_path):
    path = str(tmp_path / "l.csv")
    outputs.append_loss_rows(path, [dict(step=s, epoch=1, d_loss=1, g_loss=2, images_per_sec=3)
                                  for s in (1, 2, 3, 4)])
    outputs.truncate_loss_log(path, 2)
    assert [r["step"] for r in outputs.read_loss_log(path)] == ["1", "2"]


def test_gif_of_frames_of_different_shapes_is_one_clear_error(tmp_path):
    frames = [np.zeros((5, 5), np.uint8), np.zeros((5, 5), np.uint8), np.zeros((6, 5), np.uint8)]
    with pytest.raises(ValueError, match="frame 2 is 6x5 but frame 0 is 5x5"):
        utils.save_gif(str(tmp_path / "a.gif"), frames)
    assert not (tmp_path / "a.gif").exists()
    utils.save_gif(str(tmp_path / "b.gif"), frames[:2])
    assert (tmp_path / "b.gif").stat().st_size > 0
