"""The ``.snn`` model file: save and load a :class:`~core.network.Network` (numerics.md, section 7).

Layout (all integers little-endian)::

    b"SNNMODEL" | u32 version | u32 header length H | H bytes of JSON | payload | u32 CRC-32

Version 2 adds per-neuron biases (stored in the payload after the layer's weights) and the
``spike_count`` read-out; version 3 adds convolution layers (``"kind": "conv"`` with a
``"conv"`` object holding the geometry, the kernel packed in its C order). A network is
written in the oldest version that holds it, so that older readers still read it; this reader
reads all three.

Loading checks the magic, the version, the checksum, every header field and range, that the
payload holds exactly the bytes the header announces, and every weight; any failure raises
:class:`ModelFileError` naming the field and the fix, and nothing is returned half loaded.
Saving goes through a temporary file in the target folder and a rename, so an interrupted save
leaves the old file (or none), never a truncated one.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from .network import Conv, Layer, Network, NetworkError, check_conv

__all__ = ["MAGIC", "VERSION", "VERSIONS", "ModelFileError", "pack_weights", "unpack_weights",
           "dumps", "loads", "save", "load"]

MAGIC = b"SNNMODEL"
VERSION = 3           # the newest version this module writes
VERSIONS = (1, 2, 3)  # the versions it reads
_PREFIX = struct.Struct("<8sII")
_NETWORK_FIELDS = ("membrane_bits", "timesteps", "encoder", "lfsr_seed", "readout")
_CONV_FIELDS = ("in_channels", "height", "width", "out_channels", "kernel", "stride", "padding",
                "groups")
_LAYER_FIELDS = ("weight_bits", "threshold", "neuron", "leak_mode", "leak", "reset",
                 "fire_once")


class ModelFileError(ValueError):
    """A model file is malformed, truncated, of another version, or inconsistent."""


def pack_weights(weights: np.ndarray, bits: int) -> bytes:
    """Pack ``weights`` (n_out, n_in) input-major into a little-endian bit stream of ``bits``-bit
    codes, padded to whole 32-bit words (numerics.md, section 2)."""
    w = np.asarray(weights, dtype=np.int64).T.reshape(-1)  # element e = i * n_out + j
    codes = (w > 0).astype(np.uint64) if bits == 1 else (w & ((1 << bits) - 1)).astype(np.uint64)
    stream = ((codes[:, None] >> np.arange(bits, dtype=np.uint64)) & 1).astype(np.uint8)
    stream = stream.reshape(-1)
    stream = np.concatenate([stream, np.zeros((-len(stream)) % 32, np.uint8)])
    return np.packbits(stream, bitorder="little").tobytes()


def unpack_weights(data: bytes, n_out: int, n_in: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_weights`; returns an int16 array of shape (n_out, n_in)."""
    count = n_out * n_in
    stream = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[:count * bits]
    codes = (stream.reshape(count, bits).astype(np.int32)
             << np.arange(bits, dtype=np.int32)).sum(axis=1)
    if bits == 1:
        values = 2 * codes - 1
    else:
        values = np.where(codes >= (1 << (bits - 1)), codes - (1 << bits), codes)
    return values.astype(np.int16).reshape(n_in, n_out).T.copy()


def packed_length(n_out: int, n_in: int, bits: int) -> int:
    """Bytes of one layer's packed weights."""
    return (n_out * n_in * bits + 31) // 32 * 4


def pack_bias(bias: np.ndarray) -> bytes:
    """A layer's biases as int32 little-endian, one per neuron."""
    return np.asarray(bias, dtype="<i4").tobytes()


def version_needed(network: Network) -> int:
    """The oldest format version that holds ``network``: 3 for convolutions, 2 for biases or
    a spike-count read-out, else 1."""
    if any(layer.conv is not None for layer in network.layers):
        return 3
    return 2 if network.has_bias or network.readout == "spike_count" else 1


def _packed(layer: Layer) -> bytes:
    """A layer's weights as the payload stores them: a dense matrix input-major, a
    convolution's kernel in the C order of its (out, in / groups, K, K) array."""
    if layer.conv is None:
        return pack_weights(layer.weights, layer.weight_bits)
    return pack_weights(np.asarray(layer.weights).reshape(1, -1), layer.weight_bits)


def dumps(network: Network) -> bytes:
    """Serialize a validated network to the bytes of a model file."""
    try:
        network.validate()
    except NetworkError as error:
        raise ModelFileError(f"cannot save an invalid network: {error}") from None
    header = {f: getattr(network, f) for f in _NETWORK_FIELDS}
    header["name"] = network.name
    header["layers"] = []
    payload = bytearray()
    for layer in network.layers:
        blob = _packed(layer)
        if layer.conv is None:
            entry = {"kind": "dense", "n_in": layer.n_in, "n_out": layer.n_out}
        else:
            entry = {"kind": "conv", "n_in": layer.n_in, "n_out": layer.n_out,
                     "conv": {k: int(v) for k, v in layer.conv.fields().items()}}
        entry.update({f: getattr(layer, f) for f in _LAYER_FIELDS})
        entry["fire_once"] = bool(entry["fire_once"])
        entry.update(offset=len(payload), length=len(blob))
        payload += blob
        if layer.bias is not None:
            bias = pack_bias(layer.bias)
            entry.update(bias_offset=len(payload), bias_length=len(bias))
            payload += bias
        header["layers"].append({k: (int(v) if isinstance(v, np.integer) else v)
                                 for k, v in entry.items()})
    text = json.dumps(header, indent=1).encode()
    body = _PREFIX.pack(MAGIC, version_needed(network), len(text)) + text + bytes(payload)
    return body + struct.pack("<I", zlib.crc32(body))


def loads(data: bytes) -> Network:
    """Parse and check the bytes of a model file; raise :class:`ModelFileError` on any fault."""
    if len(data) < _PREFIX.size + 4:
        raise ModelFileError(f"file is {len(data)} bytes, too short for a model file "
                             f"(truncated?); re-export it with core.modelfile.save")
    magic, version, header_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise ModelFileError(f"magic is {magic!r}, not {MAGIC!r}: this is not an .snn model "
                             f"file; export one with core.modelfile.save")
    if version not in VERSIONS:
        newer = " (written by a newer snn-accel: upgrade this one)" if version > VERSION else ""
        raise ModelFileError(f"version is {version}, this program reads versions "
                             f"{', '.join(map(str, VERSIONS))}{newer}; re-export the model "
                             f"with this version of sw")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != crc:
        raise ModelFileError("checksum (CRC-32) does not match the contents: the file is "
                             "truncated or corrupted; copy or export it again")
    if _PREFIX.size + header_len > len(data) - 4:
        raise ModelFileError(f"header length is {header_len}, past the end of the file; "
                             f"the file is truncated, export it again")
    try:
        header = json.loads(data[_PREFIX.size:_PREFIX.size + header_len].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"header is not valid JSON ({error}); export the model again") \
            from None
    if not isinstance(header, dict):
        raise ModelFileError("header is not a JSON object; export the model again")
    payload = data[_PREFIX.size + header_len:-4]

    def need(obj, key, where, kind):
        if key not in obj:
            raise ModelFileError(f"{where}{key} is missing from the header; export the model "
                                 f"again")
        value = obj[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ModelFileError(f"{where}{key} is {value!r}; it must be an integer")
        if kind is bool and not isinstance(value, bool):
            raise ModelFileError(f"{where}{key} is {value!r}; it must be true or false")
        if kind is str and not isinstance(value, str):
            raise ModelFileError(f"{where}{key} is {value!r}; it must be a string")
        return value

    kinds = dict(membrane_bits=int, timesteps=int, encoder=str, lfsr_seed=int, readout=str,
                 weight_bits=int, threshold=int, neuron=str, leak_mode=str, leak=int,
                 reset=str, fire_once=bool)
    fields = {f: need(header, f, "", kinds[f]) for f in _NETWORK_FIELDS}
    layer_list = need(header, "layers", "", list)
    if not isinstance(layer_list, list) or not layer_list:
        raise ModelFileError("layers is empty; a model needs at least one layer")
    layers, end = [], 0
    for index, entry in enumerate(layer_list):
        where = f"layers[{index}]."
        if not isinstance(entry, dict):
            raise ModelFileError(f"layers[{index}] is not a JSON object; export the model again")
        kind = need(entry, "kind", where, str)
        if kind not in ("dense", "conv"):
            raise ModelFileError(f"{where}kind is {kind!r}; it must be 'dense' or 'conv'")
        if kind == "conv" and version < 3:
            raise ModelFileError(f"{where}kind is 'conv' in a version {version} file; "
                                 f"convolutions need version 3, export the model again")
        n_in, n_out = need(entry, "n_in", where, int), need(entry, "n_out", where, int)
        geometry = _geometry(entry, where, need) if kind == "conv" else None
        if geometry is None:
            for name, value in (("n_in", n_in), ("n_out", n_out)):
                if not 1 <= value <= 65535:
                    raise ModelFileError(f"{where}{name} is {value}; it must be in 1 .. 65535")
        params = {f: need(entry, f, where, kinds[f]) for f in _LAYER_FIELDS}
        bits = params["weight_bits"]
        if not 1 <= bits <= 8:
            raise ModelFileError(f"{where}weight_bits is {bits}; it must be in 1 .. 8")
        offset, length = need(entry, "offset", where, int), need(entry, "length", where, int)
        # A kernel is stored as one row of out x in/groups x K x K weights in C order.
        rows, cols = (n_out, n_in) if geometry is None else (1, int(np.prod(
            geometry.weight_shape)))
        expected = packed_length(rows, cols, bits)
        if length != expected:
            shape = (f"{n_out}x{n_in}" if geometry is None
                     else "x".join(map(str, geometry.weight_shape)))
            raise ModelFileError(f"{where}length is {length} bytes but {shape} weights of "
                                 f"{bits} bits need {expected}; the shape does not match the "
                                 f"weights, export the model again")
        if offset != end or offset + length > len(payload):
            raise ModelFileError(f"{where}offset {offset} and length {length} do not fit the "
                                 f"{len(payload)}-byte payload; the file is truncated or "
                                 f"inconsistent, export it again")
        blob = payload[offset:offset + length]
        weights = unpack_weights(blob, rows, cols, bits)
        if pack_weights(weights, bits) != blob:
            raise ModelFileError(f"{where}weights have bits past the last weight, so they "
                                 f"are wider than weight_bits ({bits}): a weight is out of its "
                                 f"bit range or the payload is corrupted; export the model again")
        end = offset + length
        bias = None
        if "bias_offset" in entry or "bias_length" in entry:
            if version < 2:
                raise ModelFileError(f"{where}bias_offset is in a version {version} file; "
                                     f"biases need version 2, export the model again")
            b_offset = need(entry, "bias_offset", where, int)
            b_length = need(entry, "bias_length", where, int)
            if b_length != 4 * n_out:
                raise ModelFileError(f"{where}bias_length is {b_length} bytes but {n_out} "
                                     f"int32 biases need {4 * n_out}; export the model again")
            if b_offset != end or b_offset + b_length > len(payload):
                raise ModelFileError(f"{where}bias_offset {b_offset} and bias_length "
                                     f"{b_length} do not fit the {len(payload)}-byte payload; "
                                     f"the file is truncated or inconsistent, export it again")
            bias = np.frombuffer(payload[b_offset:b_offset + b_length], "<i4").astype(np.int64)
            end = b_offset + b_length
        if geometry is not None:
            weights = weights.reshape(geometry.weight_shape)
        layers.append(Layer(weights=weights, bias=bias, conv=geometry, **params))
    if end != len(payload):
        raise ModelFileError(f"payload has {len(payload) - end} bytes after the last layer; "
                             f"the header does not describe the file, export it again")
    if version < 2 and fields["readout"] == "spike_count":
        raise ModelFileError("readout is 'spike_count' in a version 1 file; the spike-count "
                             "read-out needs version 2, export the model again")
    network = Network(layers=layers, name=str(header.get("name", "")), **fields)
    try:
        return network.validate()
    except NetworkError as error:
        raise ModelFileError(f"{error}") from None


def _geometry(entry: dict, where: str, need) -> Conv:
    """The checked :class:`Conv` of a ``"conv"`` layer's header entry (``where`` is
    ``"layers[i]."``), whose ``n_in`` and ``n_out`` must be the geometry's."""
    spec = need(entry, "conv", where, dict)
    if not isinstance(spec, dict):
        raise ModelFileError(f"{where}conv is {spec!r}; it must be an object with the fields "
                             f"{', '.join(_CONV_FIELDS)}")
    unknown = sorted(set(spec) - set(_CONV_FIELDS))
    if unknown:
        raise ModelFileError(f"{where}conv.{unknown[0]} is not a convolution field (they are "
                             f"{', '.join(_CONV_FIELDS)}); export the model again")
    geometry = Conv(**{f: need(spec, f, f"{where}conv.", int) for f in _CONV_FIELDS})
    try:
        check_conv(geometry, f"{where}conv")
    except NetworkError as error:
        raise ModelFileError(str(error)) from None
    for name, have, given in (("n_in", entry["n_in"], geometry.n_in),
                              ("n_out", entry["n_out"], geometry.n_out)):
        if have != given:
            raise ModelFileError(f"{where}{name} is {have} but the conv geometry gives {given}; "
                                 f"the header is inconsistent, export the model again")
    return geometry


def save(network: Network, path) -> Path:
    """Write ``network`` to ``path`` atomically; return the path."""
    path = Path(path)
    data = dumps(network)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        # mkstemp creates the file private (0600); give it the mode an ordinary file would get.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def load(path) -> Network:
    """Read and check a model file; raise :class:`ModelFileError` (or ``FileNotFoundError``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist; train one with "
                                f"'python -m sw.train' or use models/mnist.snn")
    try:
        return loads(path.read_bytes())
    except ModelFileError as error:
        raise ModelFileError(f"{path}: {error}") from None
