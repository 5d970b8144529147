"""How a translator's sample grid is laid out: one row per example (its input, then what the
generators made of it), the rows dealt into blocks side by side so that a large `--n` gives a
picture about as wide as it is tall."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def wrapped_rows(columns: list[Tensor]) -> tuple[Tensor, int]:
    """The tiles of a grid whose row i is image i of each of `columns` (k tensors of n images
    in [-1, 1]), and the tiles per line (`nrow` of `save_image_grid`).

    n rows of k tiles made one strip (`--n 500` of 32-pixel cyclegan rows: 206 x 17002
    pixels). They are dealt into floor(sqrt(n / k)) blocks of rows side by side, each read top
    to bottom and then the next, the last block's missing rows left black as the padding is;
    the 8 rows of a sample grid during training stay one block."""
    rows = torch.stack([column.float() for column in columns], 1)  # (n, k, C, H, W)
    n, k = rows.shape[:2]
    blocks = max(1, math.isqrt(n // k))
    height = math.ceil(n / blocks)
    blocks = math.ceil(n / height)  # no block left empty
    empty = rows.new_full((blocks * height - n, *rows.shape[1:]), -1.0)
    # line r of the picture: row r of each block in turn
    tiles = torch.cat([rows, empty]).unflatten(0, (blocks, height)).transpose(0, 1)
    return tiles.flatten(0, 2), blocks * k


__all__ = ["wrapped_rows"]
