"""What tests of several folders share: NIR graphs in the shapes snnTorch, Norse and
SpikingJelly write (``tests/sw/test_nirfloat.py``, ``tests/cli/test_nir.py``)."""

from types import SimpleNamespace

import numpy as np
import pytest

F32 = np.float32


def _full(value, n):
    return np.broadcast_to(np.asarray(value, F32), (n,)).copy()


def _snntorch_lif(n, beta=0.875, threshold=1.0, dt=1e-4):
    """snnTorch's export of ``snn.Leaky(beta, threshold)``: tau = dt / (1 - beta), r = tau/dt."""
    import nir
    tau = _full(dt / (1 - np.asarray(beta, F32)), n)
    return nir.LIF(tau=tau, r=tau / F32(dt), v_leak=_full(0, n),
                   v_threshold=_full(threshold, n), v_reset=_full(0, n))


def _norse_lif(n, tau_mem_inv=100.0, v_th=1.0):
    """Norse's export of ``LIFBoxCell``: tau = 1 / tau_mem_inv (seconds), r = 1."""
    import nir
    return nir.LIF(tau=_full(1 / tau_mem_inv, n), r=_full(1, n), v_leak=_full(0, n),
                   v_threshold=_full(v_th, n), v_reset=_full(0, n))


def _spikingjelly_lif(n, tau=2.0, v_threshold=1.0, dt=1e-4, decay_input=True):
    """SpikingJelly's export of ``LIFNode(tau)``: tau * dt, r = 1 (decay_input) or tau."""
    import nir
    return nir.LIF(tau=_full(tau * dt, n), r=_full(1.0 if decay_input else tau, n),
                   v_leak=_full(0, n), v_threshold=_full(v_threshold, n), v_reset=_full(0, n))


def _spikingjelly_if(n, v_threshold=1.0, dt=1e-4):
    """SpikingJelly's export of ``IFNode``: r = 1 / dt."""
    import nir
    return nir.IF(r=_full(1 / dt, n), v_threshold=_full(v_threshold, n), v_reset=_full(0, n))


def _chain(layers, n_in, metadata=None):
    """Input -> (Affine/Linear, neuron)* -> Output, with snnTorch's node names '0', '1', ..."""
    import nir
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])})}
    edges, prev = [], "input"
    for k, (weight, neuron) in enumerate(layers):
        nodes[str(2 * k)], nodes[str(2 * k + 1)] = weight, neuron
        edges += [(prev, str(2 * k)), (str(2 * k), str(2 * k + 1))]
        prev = str(2 * k + 1)
    n_out = layers[-1][0].weight.shape[0]
    nodes["output"] = nir.Output(output_type={"output": np.array([n_out])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata or {}, type_check=False)


def _affine(rng, n_out, n_in, scale, bias=0.1):
    """A random ``nir.Affine`` (float32, as the tools write)."""
    import nir
    return nir.Affine(weight=(rng.normal(0, scale, (n_out, n_in))).astype(F32),
                      bias=rng.normal(0, bias, n_out).astype(F32))


@pytest.fixture(name="shapes")
def shapes_fixture():
    """Builders of NIR nodes and graphs as each tool's exporter writes them: ``chain``,
    ``affine``, ``snntorch_lif``, ``norse_lif``, ``spikingjelly_lif``, ``spikingjelly_if``."""
    pytest.importorskip("nir")
    return SimpleNamespace(chain=_chain, affine=_affine, snntorch_lif=_snntorch_lif,
                           norse_lif=_norse_lif, spikingjelly_lif=_spikingjelly_lif,
                           spikingjelly_if=_spikingjelly_if)


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray with 2 CPUs for the whole test session (its start takes seconds); the
    scale-out code finds it initialised and uses it (``sim.cluster.ray_session``)."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install ray==2.60.0)")
    from sim.cluster import ray_session
    with ray_session(2) as ray:
        yield ray
