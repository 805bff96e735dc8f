"""Bounds on what an input may make jsymnet allocate, shared by the runtime and the readers."""

# Images: a few bytes of PNG can declare 30000 x 30000 pixels. The default is Pillow's
# own error threshold (DecompressionBombError), about 179 megapixels.
MAX_PIXELS_ENV = "JSYMNET_MAX_IMAGE_PIXELS"
DEFAULT_MAX_IMAGE_PIXELS = 2 * 89_478_485
