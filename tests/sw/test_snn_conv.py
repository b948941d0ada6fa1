"""sw.snn with convolution and max-pooling layers (issue 14): geometry and its errors, the
quantized forward pass against the integer golden model on sklearn's digits as 1 x 8 x 8
images, pooling as the earliest spike of the window, gradients, ANN conversion and export."""

import numpy as np
import pytest
import torch

from core import golden, modelfile
from core.network import Conv, max_pool
from sw.data import load_digits
from sw.snn import ANN, SNN, LayerSpec, SNNConfig, convert, readout, spike_time_membrane_loss
from sw.snn import to_network


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def conv_net(encoder="hybrid", neuron="if", leak_mode="factor", bits=4, T=4, fire_once=True,
             stride=1, padding=1, pool_stride=0, reset="subtract", M=16, kernel=3, **kw):
    """1x8x8 -> conv 4 (kernel, stride, padding) -> pool 2 -> conv 6 2x2 -> dense 12 -> 10."""
    leak = 0.8 if leak_mode == "factor" else 2

    def layer(n, kind="dense", threshold=0.4, **geometry):
        return LayerSpec(n, neuron=neuron, leak_mode=leak_mode, leak=leak, threshold=threshold,
                         fire_once=fire_once, reset=reset, kind=kind, **geometry)
    layers = [layer(4, "conv", 0.3, kernel=kernel, stride=stride, padding=padding),
              layer(0, "pool", kernel=2, stride=pool_stride),
              layer(6, "conv", 0.15, kernel=2),
              layer(12, threshold=0.1),
              LayerSpec(10, neuron=neuron, leak_mode=leak_mode, leak=leak, threshold=0.1,
                        reset="none")]
    return SNNConfig(n_inputs=64, layers=layers, timesteps=T, encoder=encoder,
                     weight_bits=bits, membrane_bits=M, input_shape=(1, 8, 8), **kw)


# -- geometry ----------------------------------------------------------------------------------

def test_shapes_follow_kernel_stride_padding():
    assert conv_net().shapes() == [(1, 8, 8), (4, 8, 8), (4, 4, 4), (6, 3, 3), (12,), (10,)]
    assert conv_net(stride=2, padding=0, pool_stride=1).shapes()[1:4] == \
        [(4, 3, 3), (4, 2, 2), (6, 1, 1)]
    model = SNN(conv_net(), seed=0)
    assert model.sizes == [64, 256, 64, 54, 12, 10]
    assert [tuple(w.shape) for w in model.weight] == [(4, 1, 3, 3), (0,), (6, 4, 2, 2),
                                                       (12, 54), (10, 12)]
    assert SNNConfig(n_inputs=64, layers=[LayerSpec(2, kind="conv", kernel=4),
                                          LayerSpec(3)]).map_shape() == (1, 8, 8)


@pytest.mark.parametrize("layers,message", [
    ([LayerSpec(0, kind="pool", kernel=2), LayerSpec(10)], "pooling acts on spikes"),
    ([LayerSpec(5), LayerSpec(2, kind="conv", kernel=3), LayerSpec(10)], "after a dense"),
    ([LayerSpec(2, kind="conv", kernel=8)], "the output layer .* must be dense"),
    ([LayerSpec(2, kind="conv", kernel=9), LayerSpec(10)], r"kernel is 9; it must be in 1 \.\. 7"),
    ([LayerSpec(2, kind="conv", kernel=3, stride=4), LayerSpec(10)], "stride is 4"),
    ([LayerSpec(2, kind="conv", kernel=3, padding=3), LayerSpec(10)], "padding is 3"),
    ([LayerSpec(2, kind="conv", kernel=2), LayerSpec(0, kind="pool", kernel=2, padding=1),
      LayerSpec(10)], "0 for a pool layer"),
    ([LayerSpec(2, kind="conv", kernel=7, stride=7), LayerSpec(0, kind="pool", kernel=2),
      LayerSpec(10)], "does not fit the 1x1 map"),
    ([LayerSpec(0, kind="conv", kernel=3), LayerSpec(10)], "output channels"),
    ([LayerSpec(2, kind="cnv", kernel=3), LayerSpec(10)], "kind is 'cnv'"),
])
def test_geometry_errors(layers, message):
    with pytest.raises(ValueError, match=message):
        SNNConfig(n_inputs=64, layers=layers)


def test_input_shape_errors():
    layers = [LayerSpec(2, kind="conv", kernel=3), LayerSpec(10)]
    with pytest.raises(ValueError, match="not a square image; give input_shape"):
        SNNConfig(n_inputs=60, layers=layers)
    with pytest.raises(ValueError, match=r"holds 48 pixels, but n_inputs is 64"):
        SNNConfig(n_inputs=64, layers=layers, input_shape=(3, 4, 4))
    assert SNNConfig(n_inputs=48, layers=layers, input_shape=[3, 4, 4]).shapes()[1] == (2, 2, 2)


# -- the training model is the integer model ----------------------------------------------------

CASES = [dict(), dict(neuron="lif"), dict(neuron="lif", leak_mode="shift", bits=2, T=3),
         dict(encoder="direct", bits=8, stride=2, padding=2, pool_stride=1),
         dict(encoder="rate", T=6, fire_once=False, reset="zero"),
         dict(T=1, kernel=5, padding=2), dict(bits=1, M=12, stride=2, padding=0,
                                              pool_stride=1, fire_once=False)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in
                                                                c.items()) or "default")
def test_quantized_forward_equals_golden_model(digits, case):
    cfg = conv_net(**case)
    model = SNN(cfg, seed=3)
    if cfg.layers[0].neuron == "lif" and cfg.layers[0].leak_mode == "factor":
        with torch.no_grad():
            model.rho[0].fill_(1.3)
    x = digits["test"].pixels[:150]
    out = model(torch.from_numpy(x))
    net = to_network(model)
    trace = golden.run(net, x)
    assert len(trace.spikes) == len(out.spikes) == 5
    for k, (mine, ref) in enumerate(zip(out.spikes, trace.spikes)):
        assert np.array_equal(mine.bool().numpy(), ref), f"layer {k}"
    assert np.array_equal(out.final.long().numpy(), trace.membrane[-1][:, -1])
    assert np.array_equal(readout(out, cfg.readout).numpy(), trace.prediction)
    assert all(int(s.sum()) > 0 for s in trace.spikes[:4])  # every hidden layer spikes


def test_pooling_spikes_at_the_earliest_spike_of_the_window(digits):
    """With fire-once neurons a pooling neuron spikes once, at the first step in which some
    neuron of its 2x2 window spikes; without fire-once in every step in which one does."""
    for fire_once in (True, False):
        model = SNN(conv_net(T=5, fire_once=fire_once, encoder="direct"), seed=1)
        with torch.no_grad():
            model.set_threshold(0, 0.2)
        out = model(torch.from_numpy(digits["test"].pixels[:40]))
        conv = out.spikes[0].reshape(40, 5, 4, 4, 2, 4, 2)  # (B, T, C, y, dy, x, dx)
        any_in_window = conv.amax(dim=(4, 6)).reshape(40, 5, -1)
        pooled = out.spikes[1]
        if fire_once:
            first = torch.cumsum(any_in_window, dim=1).clamp(max=1)
            assert torch.equal(pooled, torch.diff(first, dim=1, prepend=first[:, :1] * 0))
            assert pooled.sum(1).max() == 1
        else:
            assert torch.equal(pooled, any_in_window)
        assert pooled.sum() > 0


# -- training, conversion, export -------------------------------------------------------------

def test_conv_training_reduces_the_loss_and_reaches_every_layer(digits):
    model = SNN(conv_net(bits=4), seed=0)
    x = torch.from_numpy(digits["train"].pixels[:128])
    y = torch.from_numpy(digits["train"].labels[:128])
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for step in range(12):
        loss = spike_time_membrane_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            assert all(float(model.weight[k].grad.abs().sum()) > 0 for k in (0, 2, 3, 4))
            assert model.weight[1].grad is None and model.log_theta[1].grad is None
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert model.threshold(1).item() == 1.0  # the pooling layer has nothing to train


def test_conversion_from_the_relu_cnn(digits):
    cfg = conv_net(bits=None)
    ann = ANN(cfg, seed=0)
    assert [type(l).__name__ for l in ann.layers] == ["Conv2d", "MaxPool2d", "Conv2d",
                                                      "Linear", "Linear"]
    x = torch.from_numpy(digits["train"].pixels[:200]).float() / 255
    assert ann(x).shape == (200, 10)
    model = SNN(cfg, seed=1)
    lambdas = convert(ann, model, x, percentile=99.0)
    assert torch.equal(model.weight[0], ann.layers[0].weight)
    assert torch.equal(model.weight[3], ann.layers[3].weight)
    assert lambdas[1] == lambdas[0]  # max pooling keeps its input's scale
    assert np.isclose(model.threshold(2).item(), lambdas[2] / lambdas[1], rtol=1e-5)
    assert model.threshold(1).item() == 1.0


def test_export_writes_conv_and_pool_layers(digits, tmp_path):
    model = SNN(conv_net(stride=2, padding=2, pool_stride=1), seed=4)
    net = to_network(model, name="cnn")
    conv, pool = net.layers[0], net.layers[1]
    assert conv.conv == Conv(1, 8, 8, 4, 3, 2, 2)
    assert conv.weights.shape == (4, 1, 3, 3) and np.abs(conv.weights).max() <= 8
    assert pool == max_pool(4, 5, 5, 2, 1, fire_once=True)
    assert net.layers[2].conv == Conv(4, 4, 4, 6, 2)
    assert net.layers[3].conv is None and net.layers[3].weights.shape == (12, 54)
    path = tmp_path / "cnn.snn"
    modelfile.save(net, path)
    back = modelfile.load(path)
    assert back == net
    x = digits["test"].pixels[:50]
    assert np.array_equal(golden.predict(back, x), model.predict(x))
    trace = golden.run(back, x[:3])
    for i in range(3):  # the slow, obviously right reference (through dense_weights) agrees
        ref = golden.reference(back, x[i])
        assert all(np.array_equal(a[i], b[0]) for a, b in zip(trace.spikes, ref.spikes))
