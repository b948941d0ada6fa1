"""The .snn model file: round trips, the packing of docs/numerics.md, and every kind of bad file."""

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from core import modelfile
from core.modelfile import ModelFileError, dumps, load, loads, pack_weights, save, unpack_weights
from core.network import Conv, Layer, Network, NetworkError, max_pool
from core.randnet import random_network

MODELS = Path(__file__).resolve().parents[2] / "models"


def small():
    return Network(layers=[
        Layer(weights=np.array([[1, -2, 3], [-4, 5, -6]]), weight_bits=4, threshold=7,
              neuron="lif", leak_mode="factor", leak=200, reset="zero", fire_once=True),
        Layer(weights=np.array([[1, -1]]), weight_bits=1, threshold=1, reset="none",
              fire_once=False),
    ], membrane_bits=12, timesteps=3, encoder="rate", lfsr_seed=5, readout="max_membrane",
        name="small").validate()


def with_bias():
    n = small()
    n.layers[0].bias = np.array([-2048, 2047])
    return n.validate()


def build(header, payload, version=1):
    """A file with a valid checksum around an arbitrary header, to reach the field checks."""
    text = json.dumps(header).encode()
    body = struct.pack("<8sII", b"SNNMODEL", version, len(text)) + text + payload
    return body + struct.pack("<I", zlib.crc32(body))


def parts(data):
    (length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[16:16 + length]), data[16 + length:-4]


class TestPacking:
    def test_bit_layout_is_input_major_little_endian(self):
        # W[j, i] with n_out = 2, n_in = 2: elements e = i*2 + j -> W00, W10, W01, W11.
        w = np.array([[1, 2], [3, -1]])
        data = pack_weights(w, 4)
        assert data == bytes([0x31, 0xF2, 0, 0])   # nibbles 1, 3, 2, 15; padded to 32 bits
        assert unpack_weights(data, 2, 2, 4).tolist() == w.tolist()

    def test_one_bit_weights_are_plus_minus_one(self):
        w = np.array([[1, -1, -1, 1, 1, 1, -1, 1]])
        assert pack_weights(w, 1)[0] == 0b10111001
        assert unpack_weights(pack_weights(w, 1), 1, 8, 1).tolist() == w.tolist()

    @pytest.mark.parametrize("bits", range(1, 9))
    def test_round_trip_every_width(self, bits):
        rng = np.random.default_rng(bits)
        n = random_network(rng, weight_bits=bits)
        for layer in n.layers:
            data = pack_weights(layer.weights, bits)
            assert len(data) % 4 == 0
            assert (unpack_weights(data, layer.n_out, layer.n_in, bits) == layer.weights).all()


class TestRoundTrip:
    def test_save_and_load(self, tmp_path):
        path = save(small(), tmp_path / "m.snn")
        assert load(path) == small()
        assert load(path).name == "small"

    def test_saved_file_is_not_private(self, tmp_path):
        path = save(small(), tmp_path / "m.snn")
        assert path.stat().st_mode & 0o044 == 0o044   # group and others may read it

    def test_random_networks(self):
        rng = np.random.default_rng(3)
        for _ in range(100):
            n = random_network(rng, bias=True,
                               readouts=("first_spike", "max_membrane", "spike_count"))
            assert loads(dumps(n)) == n

    def test_version_is_the_oldest_that_holds_the_network(self):
        version = lambda n: struct.unpack_from("<I", dumps(n), 8)[0]
        assert version(small()) == 1          # older readers still read it
        assert version(with_bias()) == 2
        n = small()
        n.readout = "spike_count"
        assert version(n) == 2

    def test_bias_layout(self):
        header, payload = parts(dumps(with_bias()))
        entry = header["layers"][0]
        assert entry["bias_offset"] == entry["offset"] + entry["length"]
        assert payload[entry["bias_offset"]:][:8] == struct.pack("<ii", -2048, 2047)
        assert "bias_offset" not in header["layers"][1]
        loaded = loads(dumps(with_bias()))
        assert loaded.layers[0].bias.tolist() == [-2048, 2047]
        assert loaded.layers[1].bias is None


class TestBadFiles:
    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="does not exist; train one"):
            load(tmp_path / "nope.snn")

    def test_not_a_model_file(self):
        with pytest.raises(ModelFileError, match="magic is .*not an .snn model file"):
            loads(b"PK\x03\x04" + bytes(40))

    def test_truncated(self):
        data = dumps(small())
        with pytest.raises(ModelFileError, match="too short .*truncated"):
            loads(data[:10])
        with pytest.raises(ModelFileError, match="checksum .*truncated or corrupted"):
            loads(data[:-7])

    def test_corrupted_byte(self):
        data = bytearray(dumps(small()))
        data[-9] ^= 0x10
        with pytest.raises(ModelFileError, match="checksum"):
            loads(bytes(data))

    def test_wrong_version(self):
        header, payload = parts(dumps(small()))
        with pytest.raises(ModelFileError, match=r"version is 4, this program reads versions "
                                                 r"1, 2, 3 \(written by a newer snn-accel"):
            loads(build(header, payload, version=4))
        with pytest.raises(ModelFileError, match="version is 0, this program reads versions"):
            loads(build(header, payload, version=0))

    def test_bias_in_a_version_1_file(self):
        header, payload = parts(dumps(with_bias()))
        with pytest.raises(ModelFileError, match=r"layers\[0\]\.bias_offset is in a version 1 "
                                                 r"file; biases need version 2"):
            loads(build(header, payload, version=1))

    def test_spike_count_in_a_version_1_file(self):
        header, payload = parts(dumps(small()))
        header["readout"] = "spike_count"
        with pytest.raises(ModelFileError, match="readout is 'spike_count' in a version 1 file"):
            loads(build(header, payload, version=1))

    def test_bias_length_mismatch(self):
        header, payload = parts(dumps(with_bias()))
        header["layers"][0]["bias_length"] = 4
        with pytest.raises(ModelFileError, match=r"layers\[0\]\.bias_length is 4 bytes but 2 "
                                                 r"int32 biases need 8"):
            loads(build(header, payload, version=2))

    def test_bias_past_the_payload(self):
        header, payload = parts(dumps(with_bias()))
        with pytest.raises(ModelFileError, match=r"layers\[0\]\.bias_offset .* do not fit"):
            loads(build(header, payload[:header["layers"][0]["bias_offset"] + 4], version=2))

    def test_bias_out_of_the_membrane_range(self):
        header, payload = parts(dumps(with_bias()))
        start = header["layers"][0]["bias_offset"]
        payload = payload[:start] + struct.pack("<ii", 5000, 0) + payload[start + 8:]
        with pytest.raises(ModelFileError, match=r"layers\[0\]\.bias holds 5000, outside the "
                                                 r"12-bit membrane range -2048 .. 2047"):
            loads(build(header, payload, version=2))

    def test_header_not_json(self):
        body = struct.pack("<8sII", b"SNNMODEL", 1, 5) + b"{oops"
        with pytest.raises(ModelFileError, match="header is not valid JSON"):
            loads(body + struct.pack("<I", zlib.crc32(body)))

    def test_missing_field(self):
        header, payload = parts(dumps(small()))
        del header["layers"][1]["threshold"]
        with pytest.raises(ModelFileError, match=r"layers\[1\]\.threshold is missing"):
            loads(build(header, payload))

    def test_wrong_type(self):
        header, payload = parts(dumps(small()))
        header["timesteps"] = "4"
        with pytest.raises(ModelFileError, match="timesteps is '4'; it must be an integer"):
            loads(build(header, payload))

    @pytest.mark.parametrize("value", [0, 256])
    def test_timesteps_out_of_range(self, value):
        header, payload = parts(dumps(small()))
        header["timesteps"] = value
        with pytest.raises(ModelFileError, match=rf"timesteps is {value}; it must be in 1 .. 255"):
            loads(build(header, payload))

    def test_shape_mismatch(self):
        header, payload = parts(dumps(small()))
        header["layers"][0]["n_in"] = 30
        with pytest.raises(ModelFileError, match=r"layers\[0\]\.length is 4 bytes but 2x30 "
                                                 r"weights of 4 bits need 32"):
            loads(build(header, payload))

    def test_layers_do_not_chain(self):
        header, _ = parts(dumps(small()))
        a = pack_weights(np.ones((2, 3), int), 4)
        b = pack_weights(np.ones((1, 3), int), 1)
        header["layers"][1].update(n_in=3, length=len(b), offset=len(a))
        with pytest.raises(ModelFileError, match=r"layers\[1\]\.n_in is 3 but layers\[0\]\.n_out "
                                                 r"is 2; consecutive layers must chain"):
            loads(build(header, a + b))

    def test_weights_wider_than_their_bits(self):
        # The 2x3 layer's 4-bit weights take 24 bits; read as 2-bit weights, 12 bits are left
        # over (the padded length is the same 4 bytes), which the loader refuses.
        header, payload = parts(dumps(small()))
        header["layers"][0]["weight_bits"] = 2
        with pytest.raises(ModelFileError, match=r"layers\[0\]\.weights have bits past the last "
                                                 r"weight, so they are wider than weight_bits \(2\)"):
            loads(build(header, payload))

    def test_threshold_beyond_membrane(self):
        header, payload = parts(dumps(small()))
        header["layers"][0]["threshold"] = 5000
        with pytest.raises(ModelFileError, match=r"layers\[0\]\.threshold is 5000; it must be in "
                                                 r"1 .. 2047"):
            loads(build(header, payload))

    def test_unknown_choice(self):
        header, payload = parts(dumps(small()))
        header["encoder"] = "poisson"
        with pytest.raises(ModelFileError, match="encoder is 'poisson'; it must be one of"):
            loads(build(header, payload))

    def test_trailing_bytes(self):
        header, payload = parts(dumps(small()))
        with pytest.raises(ModelFileError, match="4 bytes after the last layer"):
            loads(build(header, payload + bytes(4)))

    def test_failed_save_writes_nothing(self, tmp_path):
        bad = small()
        bad.layers[0].weights = np.array([[9, 0, 0], [0, 0, 0]])   # 9 is not a 4-bit weight
        target = tmp_path / "m.snn"
        with pytest.raises(ModelFileError, match=r"layers\[0\]\.weights holds 9, outside the "
                                                 r"4-bit range -8 .. 7"):
            save(bad, target)
        assert list(tmp_path.iterdir()) == []
        save(small(), target)
        with pytest.raises(ModelFileError):
            save(bad, target)
        assert load(target) == small()       # the old file is intact
        assert [p.name for p in tmp_path.iterdir()] == ["m.snn"]


class TestNetworkErrors:
    @pytest.mark.parametrize("field, value, message", [
        ("membrane_bits", 7, "membrane_bits is 7; it must be in 8 .. 32"),
        ("timesteps", 0, "timesteps is 0; it must be in 1 .. 255"),
        ("encoder", "spikes", "encoder is 'spikes'; it must be one of"),
        ("lfsr_seed", 0, "lfsr_seed is 0; it must be in 1 .. 65535 .an LFSR seeded with 0"),
        ("readout", "vote", "readout is 'vote'; it must be one of"),
    ])
    def test_network_fields(self, field, value, message):
        n = small()
        setattr(n, field, value)
        with pytest.raises(NetworkError, match=message):
            n.validate()

    @pytest.mark.parametrize("field, value, message", [
        ("weight_bits", 9, r"layers\[0\]\.weight_bits is 9; it must be in 1 .. 8"),
        ("threshold", 0, r"layers\[0\]\.threshold is 0; it must be in 1 .. 2047"),
        ("neuron", "izh", r"layers\[0\]\.neuron is 'izh'; it must be one of"),
        ("leak", 256, r"layers\[0\]\.leak is 256; it must be in 0 .. 255"),
        ("reset", "half", r"layers\[0\]\.reset is 'half'; it must be one of"),
        ("fire_once", 1, r"layers\[0\]\.fire_once is 1; it must be true or false"),
    ])
    def test_layer_fields(self, field, value, message):
        n = small()
        setattr(n.layers[0], field, value)
        with pytest.raises(NetworkError, match=message):
            n.validate()

    @pytest.mark.parametrize("bias, message", [
        (np.array([1]), r"layers\[0\]\.bias has shape \(1,\); it must hold one value per "
                        r"neuron, shape \(2,\)"),
        (np.array([0.5, 1.0]), r"layers\[0\]\.bias has dtype float64; quantize the biases"),
        (np.array([0, -2049]), r"layers\[0\]\.bias holds -2049, outside the 12-bit membrane "
                               r"range -2048 .. 2047; rescale the layer or raise membrane_bits"),
    ])
    def test_bias(self, bias, message):
        n = small()
        n.layers[0].bias = bias
        with pytest.raises(NetworkError, match=message):
            n.validate()

    def test_shift_leak_range(self):
        n = small()
        n.layers[0].leak_mode, n.layers[0].leak = "shift", 12
        with pytest.raises(NetworkError, match=r"leak is 12; it must be in 1 .. 11"):
            n.validate()

    def test_zero_one_bit_weight(self):
        n = small()
        n.layers[1].weights = np.array([[1, 0]])
        with pytest.raises(NetworkError, match="1-bit weights are -1 or \\+1"):
            n.validate()

    def test_float_weights(self):
        n = small()
        n.layers[0].weights = n.layers[0].weights.astype(float)
        with pytest.raises(NetworkError, match="quantize the weights to integers"):
            n.validate()

    def test_empty(self):
        with pytest.raises(NetworkError, match="at least one layer"):
            Network(layers=[]).validate()


# -- version 3: convolutions ----------------------------------------------------------------

def conv_net():
    """A convolution with biases, a max pool and a dense layer: 2 x 5 x 5 -> 3 x 3 x 3 ->
    3 x 1 x 1 -> 2."""
    c = Conv(2, 5, 5, 3, kernel=3, stride=2, padding=1)
    kernel = (np.arange(np.prod(c.weight_shape)) % 15 - 7).reshape(c.weight_shape)
    return Network(layers=[
        Layer(weights=kernel, weight_bits=4, threshold=9, bias=np.arange(c.n_out) - 13, conv=c),
        max_pool(3, 3, 3, 3),
        Layer(weights=np.array([[1, -1, 2], [0, 3, -4]]), weight_bits=4, threshold=2),
    ], timesteps=3, name="conv").validate()


def conv_parts():
    return parts(dumps(conv_net()))


class TestConvolutions:
    def test_round_trip(self, tmp_path):
        data = dumps(conv_net())
        assert struct.unpack_from("<I", data, 8)[0] == 3
        assert loads(data) == conv_net()
        assert load(save(conv_net(), tmp_path / "c.snn")) == conv_net()

    def test_random_conv_networks(self):
        rng = np.random.default_rng(11)
        for _ in range(40):
            n = random_network(rng, conv=True, bias=True)
            back = loads(dumps(n))
            assert back == n and all(a.conv == b.conv for a, b in zip(back.layers, n.layers))

    def test_a_hidden_map_over_65535_neurons(self):
        # A VGG's first CIFAR-10 layer, 64 x 32 x 32: its n_out is past the dense bound.
        c = Conv(3, 32, 32, 64, kernel=3, padding=1)
        net = Network(layers=[Layer(weights=np.ones(c.weight_shape, np.int8), conv=c),
                              max_pool(64, 32, 32, 4), Layer(weights=np.ones((10, 4096), int))])
        header, _ = parts(dumps(net))
        assert header["layers"][0]["n_out"] == 65536
        assert loads(dumps(net)) == net

    def test_header(self):
        header, _ = conv_parts()
        first, pool, dense = header["layers"]
        assert first["kind"] == "conv" and pool["kind"] == "conv" and dense["kind"] == "dense"
        assert first["conv"] == dict(in_channels=2, height=5, width=5, out_channels=3,
                                     kernel=3, stride=2, padding=1, groups=1)
        assert pool["conv"]["groups"] == 3 and (first["n_in"], first["n_out"]) == (50, 27)

    def test_kernel_is_packed_in_c_order(self):
        # 54 weights of 4 bits in the order of weights.reshape(-1): 216 bits, 7 words.
        header, payload = conv_parts()
        entry = header["layers"][0]
        blob = payload[entry["offset"]:entry["offset"] + entry["length"]]
        assert entry["length"] == 28
        kernel = conv_net().layers[0].weights.reshape(-1)
        nibbles = [(blob[e // 2] >> (4 * (e % 2))) & 15 for e in range(len(kernel))]
        assert nibbles == [int(w) & 15 for w in kernel]

    def test_dense_files_are_unchanged(self):
        # Byte for byte what the code before version 3 wrote (commit 93165a8), and the shipped
        # models read back to their own bytes.
        h = hashlib.sha256()
        rng = np.random.default_rng(31)
        for _ in range(40):
            h.update(dumps(random_network(rng, bias=bool(rng.integers(0, 2)),
                                          readouts=("first_spike", "max_membrane",
                                                    "spike_count"))))
        assert hashlib.sha256(dumps(small())).hexdigest() == \
            "07cb419d4acadca672337e9e5db6a2cdd8f931f6a48fb9bd3f7dd95c384d41fd"
        assert h.hexdigest() == \
            "184f9f7a4db46a92bfee41a512f018a9babc75f9545411da522026958ef6d9bf"
        for path in sorted(MODELS.glob("*.snn")):
            assert dumps(load(path)) == path.read_bytes(), path.name

    def test_old_readers_refuse_version_3(self, monkeypatch):
        monkeypatch.setattr(modelfile, "VERSIONS", (1, 2))
        monkeypatch.setattr(modelfile, "VERSION", 2)
        with pytest.raises(ModelFileError, match=r"version is 3, this program reads versions "
                           r"1, 2 \(written by a newer snn-accel: upgrade this one\)"):
            loads(dumps(conv_net()))

    def rebuilt(self, change, version=3):
        header, payload = conv_parts()
        change(header)
        return build(header, payload, version)

    @pytest.mark.parametrize("change, message", [
        (lambda h: h["layers"][0].update(kind="pool"),
         r"layers\[0\]\.kind is 'pool'; it must be 'dense' or 'conv'"),
        (lambda h: h["layers"][0].pop("conv"),
         r"layers\[0\]\.conv is missing from the header"),
        (lambda h: h["layers"][0].update(conv=[2, 5, 5]),
         r"layers\[0\]\.conv is \[2, 5, 5\]; it must be an object with the fields in_channels, "
         r"height, width, out_channels, kernel, stride, padding, groups"),
        (lambda h: h["layers"][0]["conv"].pop("stride"),
         r"layers\[0\]\.conv\.stride is missing from the header"),
        (lambda h: h["layers"][0]["conv"].update(dilation=2),
         r"layers\[0\]\.conv\.dilation is not a convolution field"),
        (lambda h: h["layers"][0]["conv"].update(kernel="3"),
         r"layers\[0\]\.conv\.kernel is '3'; it must be an integer"),
        (lambda h: h["layers"][0]["conv"].update(kernel=0),
         r"layers\[0\]\.conv\.kernel is 0; it must be in 1 .. 7"),
        (lambda h: h["layers"][0]["conv"].update(stride=4),
         r"layers\[0\]\.conv\.stride is 4; it must be in 1 .. 3"),
        (lambda h: h["layers"][0]["conv"].update(padding=3),
         r"layers\[0\]\.conv\.padding is 3; it must be in 0 .. 2"),
        (lambda h: h["layers"][0]["conv"].update(groups=2),
         r"layers\[0\]\.conv\.groups is 2; it must be 1 \(a full convolution\) or"),
        (lambda h: h["layers"][0]["conv"].update(height=0),
         r"layers\[0\]\.conv\.height is 0; it must be in 1 .. 1024"),
        (lambda h: h["layers"][0]["conv"].update(height=1, padding=0),
         r"layers\[0\]\.conv\.kernel is 3, larger than the padded height 1"),
        (lambda h: h["layers"][0]["conv"].update(width=0),
         r"layers\[0\]\.conv\.width is 0; it must be in 1 .. 1024"),
        (lambda h: h["layers"][0]["conv"].update(in_channels=1025),
         r"layers\[0\]\.conv\.in_channels is 1025; it must be in 1 .. 1024"),
        (lambda h: h["layers"][0]["conv"].update(out_channels=0),
         r"layers\[0\]\.conv\.out_channels is 0; it must be in 1 .. 1024"),
        (lambda h: h["layers"][0]["conv"].update(kernel=8),
         r"layers\[0\]\.conv\.kernel is 8; it must be in 1 .. 7"),
        (lambda h: h["layers"][0]["conv"].update(kernel=True),
         r"layers\[0\]\.conv\.kernel is True; it must be an integer"),
        (lambda h: h["layers"][0]["conv"].update(stride=0),
         r"layers\[0\]\.conv\.stride is 0; it must be in 1 .. 3 \(a stride past the kernel"),
        (lambda h: h["layers"][0]["conv"].update(padding=-1),
         r"layers\[0\]\.conv\.padding is -1; it must be in 0 .. 2"),
        (lambda h: h["layers"][0]["conv"].update(groups=0),
         r"layers\[0\]\.conv\.groups is 0; it must be in 1 .. 1024"),
        (lambda h: h["layers"][0]["conv"].update(width=2, padding=0),
         r"layers\[0\]\.conv\.kernel is 3, larger than the padded width 2 \(width 2 \+ 2 x "
         r"padding 0\), so the output map is empty; shrink the kernel or raise the padding"),
        (lambda h: h["layers"][0].update(n_out=28),
         r"layers\[0\]\.n_out is 28 but the conv geometry gives 27; the header is "
         r"inconsistent"),
        (lambda h: h["layers"][0]["conv"].update(out_channels=4),
         r"layers\[0\]\.n_out is 27 but the conv geometry gives 36"),
        (lambda h: (h["layers"][0]["conv"].update(in_channels=1, height=10),
                    h["layers"][0].update(n_out=45)),
         r"layers\[0\]\.length is 28 bytes but 3x1x3x3 weights of 4 bits need 16"),
        (lambda h: h["layers"][1]["conv"].update(height=4, width=2, kernel=2, stride=2),
         r"layers\[1\]\.n_in is 27 but the conv geometry gives 24"),
    ])
    def test_malformed_geometry(self, change, message):
        with pytest.raises(ModelFileError, match=message):
            loads(self.rebuilt(change))

    def test_conv_in_a_version_2_file(self):
        with pytest.raises(ModelFileError, match=r"layers\[0\]\.kind is 'conv' in a version 2 "
                           r"file; convolutions need version 3, export the model again"):
            loads(self.rebuilt(lambda h: None, version=2))

    def test_maps_that_do_not_chain(self):
        # Layer 1 reads 1 x 2 x 8 instead of layer 0's 1 x 4 x 4: the same 16 neurons, the
        # same 4 outputs and kernel, so only the chaining of the maps can catch it.
        c = Conv(1, 4, 4, 1, kernel=1)
        net = Network(layers=[Layer(weights=np.ones(c.weight_shape, int), conv=c),
                              max_pool(1, 4, 4, 2), Layer(weights=np.ones((2, 4), int))])
        header, payload = parts(dumps(net))
        header["layers"][1]["conv"].update(height=2, width=8)
        with pytest.raises(ModelFileError, match=r"layers\[1\]\.conv reads a 1 x 2 x 8 map "
                           r"\(in_channels x height x width\) but layers\[0\] outputs 1 x 4 x 4"):
            loads(build(header, payload, version=3))
