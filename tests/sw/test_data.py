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


# -- CIFAR-10 --------------------------------------------------------------------------------

def write_cifar(folder, per_batch=3, protocol=2, skip=(), labels_key=b"labels"):
    """The six CIFAR-10 Python batches with ``per_batch`` images each, as the real files hold
    them (a dict with bytes keys, uint8 data (N, 3072), a list of labels); image ``i`` of the
    whole set has pixel ``p`` = ``(i * 7 + p) % 256`` and label ``i % 10``."""
    folder.mkdir(parents=True, exist_ok=True)
    index = 0
    for name in data.CIFAR10_FILES:
        if name in skip:
            continue
        ids = np.arange(index, index + per_batch)
        pixels = ((ids[:, None] * 7 + np.arange(3072)) % 256).astype(np.uint8)
        batch = {b"batch_label": name.encode(), b"data": pixels,
                 labels_key: [int(i % 10) for i in ids],
                 b"filenames": [f"{i}.png".encode() for i in ids]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        index += per_batch
    return folder


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_batches_are_read_in_order(tmp_path, protocol):
    splits = data.load_cifar10(write_cifar(tmp_path / "c", protocol=protocol))
    assert sorted(splits) == ["test", "train"]
    x, y = splits["train"]
    assert x.dtype == np.uint8 and x.shape == (15, 3072) and y.dtype == np.int64
    ids = np.arange(15)
    assert np.array_equal(x, (ids[:, None] * 7 + np.arange(3072)) % 256)
    assert y.tolist() == (ids % 10).tolist()
    assert splits["test"].pixels.shape == (3, 3072) and splits["test"].labels.tolist() == [5, 6, 7]
    # The pixels stay in the file's order: red plane, green, blue (channel-major, CHW).
    assert x[1].reshape(3, 32, 32)[1, 0, 0] == (7 + 1024) % 256
    assert data.PIXELS["cifar10"] == 3072


def test_cifar10_through_load_dataset_and_the_default_folder(tmp_path, monkeypatch):
    write_cifar(tmp_path / "cifar-10-batches-py", per_batch=1)
    monkeypatch.setenv("SNN_DATA", str(tmp_path))
    assert len(data.load_dataset("cifar10")["train"].labels) == 5
    assert len(data.load_dataset("cifar10", tmp_path / "cifar-10-batches-py")["test"].labels) == 1


def test_cifar10_missing_files_name_the_folder_and_the_files(tmp_path):
    with pytest.raises(data.DataError, match=re.escape(
            f"{tmp_path / 'none'} does not exist; CIFAR-10 needs the Python batches "
            f"data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch "
            f"in one folder (unpack cifar-10-python.tar.gz")):
        data.load_cifar10(tmp_path / "none")
    folder = write_cifar(tmp_path / "c", skip=("data_batch_3", "test_batch"))
    with pytest.raises(data.DataError, match=re.escape(
            f"{folder} has no data_batch_3, test_batch; CIFAR-10 needs the Python batches")):
        data.load_cifar10(folder)


@pytest.mark.parametrize("content, message", [
    (b"not a pickle", "is not a CIFAR-10 Python batch"),
    (pickle.dumps([1, 2, 3], protocol=2), r"is not a CIFAR-10 Python batch \(no data and labels\)"),
    (pickle.dumps({b"data": np.zeros((2, 784), np.uint8), b"labels": [0, 1]}),
     r"data is uint8 \(2, 784\), expected uint8 \(N, 3072\)"),
    (pickle.dumps({b"data": np.zeros((2, 3072)), b"labels": [0, 1]}),
     r"data is float64 \(2, 3072\), expected uint8"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}),
     r"labels are not 2 classes 0 \.\. 9"),
    (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}),
     r"labels are not 1 classes 0 \.\. 9"),
    (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0],
                   b"extra": data.Path("x")}),
     r"is not a CIFAR-10 Python batch \(it names pathlib"),
])
def test_cifar10_malformed_batch(tmp_path, content, message):
    folder = write_cifar(tmp_path / "c", per_batch=1)
    (folder / "data_batch_2").write_bytes(content)
    with pytest.raises(data.DataError, match=message) as error:
        data.load_cifar10(folder)
    assert str(folder / "data_batch_2") in str(error.value)
    assert "data_batch_1, data_batch_2" in str(error.value)  # the fix names the files


def test_cifar10_argument(tmp_path, capsys):
    folder = write_cifar(tmp_path / "c", per_batch=2)
    assert data.labelled_data(f"cifar10:{folder}") == ("cifar10", folder)
    assert data.labelled_data("cifar10") == ("cifar10", None)
    with pytest.raises(argparse.ArgumentTypeError, match="is not a folder; give cifar10:FOLDER"):
        data.labelled_data(f"cifar10:{tmp_path / 'none'}")
    assert _parse(["--data", f"cifar10:{folder}"]) == ("cifar10", folder)
    assert _parse(["--data", f"cifar10:{folder}", "--dataset", "cifar10"]) == ("cifar10", folder)
    with pytest.raises(SystemExit):
        _parse(["--data", f"cifar10:{folder}", "--dataset", "mnist"])
    assert "is a folder of CIFAR-10 batches, but --dataset is mnist" in capsys.readouterr().err
    assert data.main(["--data", f"cifar10:{folder}"]) == 0
    out = capsys.readouterr().out
    assert "train: 10 images, 3072 pixels" in out and "test: 2 images, 3072 pixels" in out
