"""``neuralforge datasets``: list | info | register | split | augment | preview; errors exit 1."""

from __future__ import annotations

import json

from PIL import Image

from neural_engine.cli import main
from tests.test_data_uploads import good_members, make_zip


def test_list_shows_builtins_and_registered(tmp_path, nf_home, capsys):
    store = str(tmp_path / "store")
    assert (
        main(
            [
                "datasets",
                "register",
                make_zip(tmp_path / "pets.zip", good_members()),
                "--name",
                "pets",
                "--storage",
                store,
            ]
        )
        == 0
    )
    assert "registered pets v1" in capsys.readouterr().out
    assert main(["datasets", "list", "--storage", store]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "cifar100" in out and "shapes_segmentation" in out
    assert any(line.startswith("pets ") and "v1 " in line for line in out.splitlines())
    assert main(["datasets", "list", "--json"]) == 0  # the default storage (empty home) has no uploads
    assert {d["name"] for d in json.loads(capsys.readouterr().out)} == {
        "digits",
        "mnist",
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "shapes_segmentation",
        "sequence_classification",
        "regression",
    }


def test_info_builtin_and_registered(tmp_path, nf_home, capsys):
    assert main(["datasets", "info", "digits", "--stats"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (
        doc["samples"] == 1797
        and doc["stats"]["class_distribution"]["0"] == 178
        and "scikit-learn" in doc["source"]
    )
    main(["datasets", "register", make_zip(tmp_path / "p.zip", good_members()), "--name", "pets"])
    main(["datasets", "split", "pets", "--ratios", "60,20,20", "--stratify"])
    capsys.readouterr()
    assert main(["datasets", "info", "pets"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["number"] == 2 and doc["split"]["ratios"] == [0.6, 0.2, 0.2] and len(doc["lineage"]) == 2


def test_register_options_and_warnings(tmp_path, nf_home, capsys):
    members = good_members(7, 2) | {"dog/bad.png": b"broken"}
    path = make_zip(tmp_path / "p.zip", members)
    assert main(["datasets", "register", path, "--name", "pets"]) == 1
    assert "corrupt: dog/bad.png" in capsys.readouterr().err
    assert (
        main(["datasets", "register", path, "--name", "pets", "--skip-corrupt", "--image-size", "5,5"]) == 0
    )
    out, err = capsys.readouterr()
    assert "input (5, 5, 3)" in out and "warning: class imbalance" in err and "warning: 1 corrupt" in err
    # progress on stderr: the images read (the corrupt one too), then the storing
    assert "reading p.zip: 10 images in " in err and "storing pets: 9 samples" in err
    csv = tmp_path / "t.csv"
    csv.write_text("a,b,y\n1,2,0\n3,4,1\n")
    assert main(["datasets", "register", str(csv), "--name", "table", "--label-column", "y", "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert (doc["name"], doc["number"], doc["task"], doc["stats"]["samples"]) == (
        "table",
        1,
        "classification",
        2,
    )
    assert "reading t.csv (" in err
    assert main(["datasets", "register", str(csv), "--name", "table2"]) == 1
    assert 'label column "label"' in capsys.readouterr().err


def test_split_builtin_and_registered(tmp_path, nf_home, capsys):
    assert main(["datasets", "split", "digits", "--ratios", "70,15,15", "--stratify", "--seed", "1"]) == 0
    assert "train 1258, val 270, test 269" in capsys.readouterr().out
    main(["datasets", "register", make_zip(tmp_path / "p.zip", good_members(10, 10)), "--name", "pets"])
    assert main(["datasets", "split", "pets", "--ratios", "50,30,20", "--stratify"]) == 0
    assert "pets v2" in capsys.readouterr().out.splitlines()[-1]
    assert main(["datasets", "split", "pets", "--ratios", "60,20,20", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["number"] == 3 and sum(doc["split"]["counts"].values()) == 20
    assert main(["datasets", "split", "digits", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "name": "digits",
        "builtin": True,
        "counts": {"train": 1258, "val": 270, "test": 269},
    }
    assert main(["datasets", "split", "pets", "--ratios", "50,30"]) == 1
    assert "adding up to 100" in capsys.readouterr().err


def test_augment_and_preview(tmp_path, nf_home, capsys):
    pipe = tmp_path / "p.json"
    pipe.write_text(json.dumps([{"type": "RandomRotation", "params": {"degrees": 25}}]))
    out = tmp_path / "grid.png"
    assert (
        main(
            [
                "datasets",
                "preview",
                "digits",
                "--pipeline",
                str(pipe),
                "-o",
                str(out),
                "-n",
                "5",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    with Image.open(out) as img:
        assert img.size == (140, 5 * 68 + 4)
    first = out.read_bytes()
    main(["datasets", "preview", "digits", "--pipeline", str(pipe), "-o", str(out), "-n", "5", "--seed", "3"])
    assert out.read_bytes() == first  # same seed, same picture
    main(["datasets", "register", make_zip(tmp_path / "p.zip", good_members()), "--name", "pets"])
    assert main(["datasets", "augment", "pets", "--pipeline", str(pipe)]) == 0
    assert "pipeline of 1 operations" in capsys.readouterr().out
    assert main(["datasets", "augment", "pets", "--pipeline", str(pipe), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pipeline"] == [
        {"type": "RandomRotation", "params": {"degrees": 25}}
    ]
    assert (
        main(["datasets", "preview", "pets", "--pipeline", str(pipe), "-o", str(out), "-n", "3", "--json"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["path"] == str(out) and len(doc["samples"]) == 3


def test_errors_are_messages_not_tracebacks(tmp_path, nf_home, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"type": "Flip"}]))
    for argv, message in [
        (["datasets", "info", "pest"], '"pest" must be a built-in or registered dataset'),
        (["datasets", "preview", "digits", "--pipeline", str(bad), "-o", str(tmp_path / "g.png")], '"Flip"'),
        (["datasets", "info", "mnist", "--stats", "--root", str(tmp_path)], "missing: MNIST/raw/"),
        (["datasets", "register", str(tmp_path / "none.zip"), "--name", "x"], "existing file"),
        (["datasets", "list", "--storage", "ftp://host/x"], "local directory or s3://"),
        (["datasets", "register", str(bad), "--name", "x", "--image-size", "4"], "2 positive integers"),
    ]:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
