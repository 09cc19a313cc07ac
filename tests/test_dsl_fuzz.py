"""Fuzzing the DSL front end: grammar-shaped and byte-mutated inputs only ever raise
NeuralForge errors, and none takes more than a second.

CI runs NF_FUZZ_EXAMPLES (default 2,500) per test, 5,000 in all; `make fuzz` runs 50,000.
"""

from __future__ import annotations

import gc
import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neural_engine.dsl import parse_file
from neural_engine.errors import NeuralForgeError
from neural_engine.shapes import propagate

EXAMPLES = int(os.environ.get("NF_FUZZ_EXAMPLES", "2500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SEED = """define ConvBN(f, k=3) { Conv2D(filters=$f, kernel_size=$k, padding="same") BatchNormalization() }
network Net {
  input: {image: (28, 28, 1), meta: (10,)}
  layers:
    image: { ConvBN(16) * 2 MaxPooling2D((2, 2)) Flatten() }
    meta: { Dense(HPO(choice(8, 16)), "relu") }
    merged = Concatenate() <- [image, meta]
    ResidualConnection { Dense(32) } Dense(32, activation='relu') @ "cuda:0"
    TimeDistributed(Dense(4)) Output(10, "softmax")
  loss: "sparse_categorical_crossentropy"  // comment
  optimizer: SGD(learning_rate=ExponentialDecay(HPO(range(0.05, 0.2, step=0.05)), 1000, 0.96))
  metrics: ["accuracy"]
  train { epochs: 10, batch_size: 64, validation_split: 0.2 } /* c */
  execution { device: "auto" }
}
"""
TOKENS = [
    "network",
    "N",
    "define",
    "macro",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "=",
    "<-",
    "*",
    "@",
    "input",
    "layers",
    "loss",
    "optimizer",
    "train",
    "layout",
    "channels_first",
    "(28, 28, 1)",
    "Dense",
    "Conv2D",
    "Add",
    "ResidualConnection",
    "TimeDistributed",
    "LSTM",
    "HPO",
    "choice",
    "range",
    "log_range",
    "$x",
    "1e3",
    "-3",
    ".5",
    "0",
    "1e309",
    '"relu"',
    "'same'",
    "true",
    "None",
    "# c\n",
    "/*",
    "*/",
    "//",
    "\n",
    "Output",
    "Flatten",
    "Reshape",
    "skip",
    "x",
    "+",
    "-",
    "/",
]


parse_file(SEED)  # build the parser once, outside any timed call


def check(text: str) -> None:
    """No input may crash the parser or make it run away (a blow-up, not a slow machine: this
    process's CPU time, so other processes' load does not count; 1 s is ~1,000x a normal parse).
    The garbage collector is paused while timing: in the full suite, a collection walks every other
    test's objects, which is not the parser's cost."""
    gc.disable()
    start = time.process_time()
    try:
        for graph in parse_file(text).graphs.values():
            propagate(graph)
    except NeuralForgeError:
        pass
    finally:
        seconds = time.process_time() - start
        gc.enable()
    assert seconds < 1.0, f"took over 1 s of CPU on {text[:200]!r}"


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map(" ".join))
def test_grammar_shaped_token_soup(text):
    check(text)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(SEED)), st.integers(0, 8), st.binary(max_size=6)), max_size=6))
def test_byte_mutations_of_a_valid_file(edits):
    data = bytearray(SEED.encode())
    for pos, cut, insert in edits:
        data[pos : pos + cut] = insert
    check(data.decode("utf-8", errors="replace"))


def test_seed_is_valid():
    parse_file(SEED)


def test_pathological_inputs():
    for text in [
        "(" * 5000,
        "network N { input: (8,) layers: Dense(2) * 99999999 }",
        "define A { A A } network N { input: (8,) layers: A }",
        (
            "define A { Dense(2) Dense(2) } define B { A A A A A A A A A A } define C { B B B B B B B B B B }"
            " define D { C C C C C C C C C C } define E { D D D D D D D D D D }"
            " network N { input: (8,) layers: E E E E E E }"
        ),
        "network N { input: (8,) layers: Dense(" + "1" * 5000 + ") }",
        "\x00\xff" * 100,
        "network N { input: (8,) layers: Dense(2) " + "} " * 1000,
    ]:
        check(text)
