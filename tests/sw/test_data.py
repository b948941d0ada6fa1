"""sw.data: pixels, the digits set, IDX folders, the MNIST cache and its error messages."""

import argparse
import gzip
import pickle
import re
import struct

import numpy as np
import pytest

from sw import data
from sw.data import DataError


def test_to_pixels_rounds_and_keeps_the_ends():
    x = np.array([0.0, 1.0, 0.5, 1 / 255, 0.4 / 255, 0.6 / 255, 254.5 / 255])
    assert data.to_pixels(x).tolist() == [0, 255, 128, 1, 0, 1, 254]
    assert data.to_pixels(x).dtype == np.uint8


def test_to_pixels_and_from_pixels_are_inverse_on_bytes():
    p = np.arange(256, dtype=np.uint8)
    assert np.array_equal(data.to_pixels(data.from_pixels(p)), p)


@pytest.mark.parametrize("bad", [[-0.1], [1.5], [np.nan], [[0, 255]]])
def test_to_pixels_rejects_values_outside_unit_range(bad):
    with pytest.raises(ValueError, match=r"floats in \[0, 1\]"):
        data.to_pixels(np.array(bad, dtype=float))


def test_digits_are_pixels_and_labels():
    d = data.load_digits()
    assert set(d) == {"train", "test"}
    total = len(d["train"].labels) + len(d["test"].labels)
    assert total == 1797
    assert d["train"].pixels.dtype == np.uint8 and d["train"].pixels.shape[1] == 64
    assert d["train"].pixels.max() == 255  # 16/16 grey levels reach full scale
    assert d["train"].labels.dtype == np.int64 and set(d["train"].labels) == set(range(10))
    again = data.load_digits()
    assert np.array_equal(again["test"].pixels, d["test"].pixels)  # fixed split


def _write_idx(path, array, magic, compress=False):
    body = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    body = body[:3] + bytes([array.ndim]) + body[4:]
    body += array.astype(np.uint8).tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as file:
        file.write(body)


def _idx_folder(tmp_path, compress=False, n_train=5, n_test=3):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": (rng.integers(0, 256, (n_train, 28, 28)), 0x803),
              "train-labels-idx1-ubyte": (rng.integers(0, 10, n_train), 0x801),
              "t10k-images-idx3-ubyte": (rng.integers(0, 256, (n_test, 28, 28)), 0x803),
              "t10k-labels-idx1-ubyte": (rng.integers(0, 10, n_test), 0x801)}
    for name, (array, magic) in arrays.items():
        _write_idx(tmp_path / (name + (".gz" if compress else "")), array, magic, compress)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder_is_read_exactly(tmp_path, compress):
    arrays = _idx_folder(tmp_path, compress)
    d = data.load_mnist(tmp_path)
    assert np.array_equal(d["test"].pixels, arrays["t10k-images-idx3-ubyte"][0].reshape(3, 784))
    assert np.array_equal(d["test"].labels, arrays["t10k-labels-idx1-ubyte"][0])
    joined = np.concatenate([d["train"].pixels, d["valid"].pixels])
    assert np.array_equal(joined, arrays["train-images-idx3-ubyte"][0].reshape(5, 784))


def test_idx_missing_file_names_the_fix(tmp_path):
    _idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*put the four MNIST IDX files"):
        data.load_mnist(tmp_path)


def test_idx_truncated_file_is_an_error(tmp_path):
    _idx_folder(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated"):
        data.load_mnist(tmp_path)


def test_idx_wrong_magic_is_an_error(tmp_path):
    _idx_folder(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + path.read_bytes()[4:])
    with pytest.raises(DataError, match="not an IDX file"):
        data.load_mnist(tmp_path)


def test_missing_folder_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="does not exist.*python -m sw.data --download"):
        data.load_mnist(tmp_path / "nowhere")


def test_empty_cache_without_download_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("SNN_DATA", str(tmp_path))
    with pytest.raises(DataError, match="not in .*python -m sw.data --download"):
        data.load_mnist(download=False)


def test_corrupted_wheel_is_detected(tmp_path, monkeypatch):
    monkeypatch.setenv("SNN_DATA", str(tmp_path))
    (tmp_path / data.WHEEL_FILE).write_bytes(b"not a wheel")
    with pytest.raises(DataError, match="SHA-256.*delete it and download again"):
        data.load_mnist()


def test_corrupted_cache_is_detected(tmp_path, monkeypatch):
    monkeypatch.setenv("SNN_DATA", str(tmp_path))
    (tmp_path / data.CACHE_FILE).write_bytes(b"garbage")
    with pytest.raises(DataError, match="unreadable.*delete it"):
        data.load_mnist()


def test_pickle_pixels_are_recovered_as_bytes():
    rng = np.random.default_rng(1)
    splits = []
    for n in (4, 2, 3):
        k = rng.integers(0, 256, (n, 784))
        splits.append(((k / 256).astype(np.float32), rng.integers(0, 10, n)))
    blob = gzip.compress(pickle.dumps(tuple(splits)))
    d = data._from_pickle(blob)
    assert np.array_equal(d["valid"].pixels, np.rint(splits[1][0] * 256).astype(np.uint8))
    assert d["test"].pixels.dtype == np.uint8


def test_pickle_that_is_not_bytes_over_256_is_rejected():
    x = np.full((2, 784), 0.3, np.float32)
    y = np.zeros(2, np.int64)
    with pytest.raises(DataError, match="not bytes / 256"):
        data._from_pickle(gzip.compress(pickle.dumps(((x, y), (x, y), (x, y)))))


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="'mnist' or 'digits'"):
        data.load_dataset("cifar")


def test_labelled_data_argument(tmp_path, monkeypatch):
    """--data SOURCE of the tools that need labels: a set name or a folder of IDX files."""
    monkeypatch.chdir(tmp_path)
    assert data.labelled_data("mnist") == ("mnist", None)
    assert data.labelled_data("digits") == ("digits", None)
    (tmp_path / "mnist").mkdir()
    assert data.labelled_data("./mnist") == ("mnist", data.Path("mnist"))
    (tmp_path / "f.txt").write_text("x")
    for text, message in (("random", "random images have no labels"),
                          ("f.txt", "f.txt is a file"),
                          ("cifar", "cifar is neither a data set (mnist, digits)")):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
            data.labelled_data(text)


def _parse(argv, default="mnist"):
    parser = argparse.ArgumentParser()
    data.add_data_arguments(parser, default=default)
    return data.data_arguments(parser.parse_args(argv), parser)


def test_data_and_dataset_combine(tmp_path, capsys):
    assert _parse([]) == ("mnist", None)
    assert _parse([], default=None) == (None, None)
    assert _parse(["--dataset", "digits"]) == ("digits", None)
    assert _parse(["--data", "digits"]) == ("digits", None)
    assert _parse(["--data", str(tmp_path)]) == ("mnist", tmp_path)
    assert _parse(["--data", str(tmp_path), "--dataset", "mnist"]) == ("mnist", tmp_path)
    with pytest.raises(SystemExit):
        _parse(["--data", str(tmp_path), "--dataset", "digits"])
    assert "leave out --dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse(["--data", "mnist", "--dataset", "digits"])
    assert "disagree" in capsys.readouterr().err


def test_cli_reports_the_splits_and_errors_in_one_line(tmp_path, capsys):
    assert data.main(["--data", "digits"]) == 0
    assert "test: 449 images, 64 pixels" in capsys.readouterr().out
    assert data.main(["--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python -m sw.data: error: ") and err.count("\n") == 1
    assert "has no train-images-idx3-ubyte" in err
