"""Sequence classifiers over token ids: an LSTM and a Transformer encoder."""

from neural_engine.ir import Call, Graph, GraphBuilder


def lstm_classifier(
    classes: int = 2, input_shape=(100,), width: int = 128, vocab_size: int = 10_000
) -> Graph:
    """Embedding(vocab, width) -> LSTM(width, sequences) -> LSTM(width) -> Dropout -> Output."""
    g = GraphBuilder("LSTMClassifier", {"tokens": tuple(input_shape)})
    x = g.chain(
        g.input(),
        ("Embedding", {"input_dim": vocab_size, "output_dim": width}),
        ("LSTM", {"units": width, "return_sequences": True}),
        ("LSTM", {"units": width}),
        ("Dropout", {"rate": 0.3}),
    )
    g.add("Output", x, units=classes, activation="softmax")
    g.training = {"loss": "sparse_categorical_crossentropy", "optimizer": Call("Adam"), "batch_size": 32}
    return g.build()


def transformer_classifier(
    classes: int = 2,
    input_shape=(128,),
    width: int = 128,
    vocab_size: int = 10_000,
    num_heads: int = 4,
    num_layers: int = 2,
) -> Graph:
    """Embedding + sinusoidal positions + ``num_layers`` encoder layers, mean over tokens, Output."""
    g = GraphBuilder("TransformerClassifier", {"tokens": tuple(input_shape)})
    x = g.chain(
        g.input(),
        ("Embedding", {"input_dim": vocab_size, "output_dim": width}),
        ("PositionalEncoding", {"max_len": max(512, input_shape[0])}),
        ("TransformerEncoder", {"num_heads": num_heads, "ff_dim": 4 * width, "num_layers": num_layers}),
        ("GlobalAveragePooling1D", {}),
        ("Dropout", {"rate": 0.1}),
    )
    g.add("Output", x, units=classes, activation="softmax")
    g.training = {"loss": "sparse_categorical_crossentropy", "optimizer": Call("AdamW"), "batch_size": 32}
    return g.build()
