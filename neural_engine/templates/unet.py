"""U-Net (Ronneberger et al. 2015) with "same" padding: 4 levels down, 4 up, skip concatenations."""

from neural_engine.ir import Call, Graph, GraphBuilder


def _double_conv(g: GraphBuilder, x: str, filters: int) -> str:
    for _ in range(2):
        x = g.add("Conv2D", x, filters=filters, kernel_size=3, padding="same", use_bias=False)
        x = g.add("BatchNormalization", x)
        x = g.add("ReLU", x)
    return x


def unet(classes: int = 2, input_shape=(128, 128, 3), width: int = 64, levels: int = 4) -> Graph:
    """Per-pixel ``classes`` logits; ``width`` channels at the top level, doubled per level.
    Height and width must be divisible by 2**levels."""
    g = GraphBuilder("UNet", {"image": tuple(input_shape)})
    x, skips = g.input(), []
    for level in range(levels):
        x = _double_conv(g, x, width * 2**level)
        skips.append(x)
        x = g.add("MaxPooling2D", x, pool_size=2)
    x = _double_conv(g, x, width * 2**levels)
    for level in reversed(range(levels)):
        x = g.add("Conv2DTranspose", x, filters=width * 2**level, kernel_size=2, strides=2)
        x = g.add("Concatenate", skips[level], x)
        x = _double_conv(g, x, width * 2**level)
    g.add("Output", x, units=classes, activation="softmax")  # per pixel: Dense acts on the channels
    g.training = {"loss": "dice", "optimizer": Call("Adam"), "batch_size": 8}
    return g.build()
