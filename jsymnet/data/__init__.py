"""Data: image I/O, paired datasets, input synthesis and the sample set (docs/design.md#datasets).

Every module of this folder is imported here (:func:`jsymnet.registry.import_parts`),
so a dataset registered in a new module needs no other edit.
"""
from ..registry import import_parts

import_parts(__name__, __path__)

from .datasets import (DATASETS, PairedImageDataset, augment_pair, build_dataset,
                       dataset_pairs, read_pair)
from .image_io import ImageReadError, read_image, resize_max_side, to_uint8, write_image
from .pairs import (LAYOUTS, DatasetNotFoundError, Pair, PairingError, fivek_pairs,
                    folder_pairs, lol_pairs, match_pairs)
from .sample import build_sample_set, ensure_sample_set
from .synthesis import DistortionRanges, distort

__all__ = ["DATASETS", "PairedImageDataset", "augment_pair", "build_dataset", "dataset_pairs",
           "read_pair", "ImageReadError", "read_image", "resize_max_side", "to_uint8",
           "write_image", "LAYOUTS", "DatasetNotFoundError", "Pair", "PairingError",
           "fivek_pairs", "folder_pairs", "lol_pairs", "match_pairs", "build_sample_set",
           "ensure_sample_set", "DistortionRanges", "distort"]
