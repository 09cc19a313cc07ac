"""ResNet-18 (He et al. 2015) exactly as torchvision builds it: 11,689,512 parameters at 1000 classes."""

from neural_engine.ir import Call, Graph, GraphBuilder


def _bn_relu(g: GraphBuilder, x: str, relu=True) -> str:
    x = g.add("BatchNormalization", x, epsilon=1e-5, momentum=0.9)  # torchvision's (torch momentum 0.1)
    return g.add("ReLU", x) if relu else x


def _conv(g: GraphBuilder, x: str, filters: int, kernel: int, stride: int) -> str:
    return g.add(
        "Conv2D", x, filters=filters, kernel_size=kernel, strides=stride, padding=kernel // 2, use_bias=False
    )


def basic_block(g: GraphBuilder, x: str, filters: int, stride: int, in_filters: int) -> str:
    """conv3x3-BN-ReLU-conv3x3-BN, plus the input (projected by conv1x1-BN when the shape changes)."""
    y = _bn_relu(g, _conv(g, x, filters, 3, stride))
    y = _bn_relu(g, _conv(g, y, filters, 3, 1), relu=False)
    if stride != 1 or in_filters != filters:
        x = _bn_relu(g, _conv(g, x, filters, 1, stride), relu=False)
    return g.add("ReLU", g.add("Add", y, x))


def resnet18(
    classes: int = 1000,
    input_shape=(224, 224, 3),
    width: int = 64,
    stem: str = "imagenet",
    name: str = "ResNet18",
) -> Graph:
    """ResNet-18; ``width`` is the first stage's channels (64), doubled at each of the 4 stages.

    ``stem="imagenet"``: 7x7/2 conv + 3x3/2 max pool; ``stem="cifar"``: one 3x3/1 conv.
    """
    g = GraphBuilder(name, {"image": tuple(input_shape)})
    if stem == "cifar":
        x = _bn_relu(g, _conv(g, g.input(), width, 3, 1))
    else:
        x = _bn_relu(g, _conv(g, g.input(), width, 7, 2))
        x = g.add("MaxPooling2D", x, pool_size=3, strides=2, padding=1)
    channels = width
    for stage in range(4):
        filters = width * 2**stage
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            x = basic_block(g, x, filters, stride, channels)
            channels = filters
    x = g.add("GlobalAveragePooling2D", x)
    g.add("Output", x, units=classes, activation="softmax")
    g.training = {"loss": "sparse_categorical_crossentropy", "optimizer": Call("SGD"), "batch_size": 128}
    return g.build()


def resnet18_cifar(classes: int = 10, input_shape=(32, 32, 3), width: int = 64) -> Graph:
    return resnet18(classes, input_shape, width, stem="cifar", name="ResNet18CIFAR")
