"""hw.convaddr: the conv address generator against a Python enumeration of the kernel positions
that land, with gaps between events and back-pressure on the pairs."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.convaddr import ConvAddress, landing, reciprocal, reciprocal_shift

SEED = 20261204


def _clog2(n):
    return max(0, (n - 1).bit_length())


def reference_pairs(c, y, x, *, kernel, stride, padding, out_h, out_w, out_w_bits,
                    band_first=0, band_rows=None):
    """The (kernel word offset, position address) pairs of an input event at (c, y, x), in the
    generator's order: ascending ky, then kx (docs/architecture.md, "Convolution"); only the
    output rows of the band ``band_first .. band_first + band_rows - 1`` (all by default), at
    positions relative to the band."""
    band_rows = out_h - band_first if band_rows is None else band_rows
    pairs = []
    for ky in range(kernel):
        ny = y + padding - ky
        if ny < 0 or ny % stride or not 0 <= ny // stride < out_h:
            continue
        if not band_first <= ny // stride < band_first + band_rows:
            continue
        for kx in range(kernel):
            nx = x + padding - kx
            if nx < 0 or nx % stride or not 0 <= nx // stride < out_w:
                continue
            pairs.append(((c * kernel + ky) * kernel + kx,
                          (ny // stride - band_first) << out_w_bits | nx // stride))
    return pairs


def reference_slots(c, y, x, *, kernel, banks=1, **geometry):
    """:func:`reference_pairs` in slots of ``banks`` kernel columns (``kx = j * banks + g``),
    as the generator emits them: (kernel word ``(c * k + ky) * KW + j``, lowest position, run
    of positions from it, the selected column ``g`` of each bank that a position lies in)."""
    kw = -(-kernel // banks)
    slots = {}
    for word, position in reference_pairs(c, y, x, kernel=kernel, **geometry):
        ky, kx = divmod(word - c * kernel * kernel, kernel)
        j, g = divmod(kx, banks)
        slots.setdefault((c * kernel + ky) * kw + j, []).append((position, g))
    out = []
    for word, hits in slots.items():
        low = min(position for position, _ in hits)
        assert sorted(position for position, _ in hits) == list(range(low, low + len(hits)))
        select = tuple(sorted((position % banks, g) for position, g in hits))
        out.append((word, low, (1 << len(hits)) - 1, select if banks > 1 else ()))
    return out


def random_geometry(rng, map_bits):
    """A conv layer's geometry within numerics' ranges (stride <= kernel, padding < kernel)
    and the map size, with its hardware-order field widths."""
    side = 1 << map_bits
    while True:
        k = int(rng.integers(1, 8))
        s = int(rng.integers(1, k + 1))
        p = int(rng.integers(0, k))
        h = int(rng.integers(1, min(side, 12) + 1))
        w = int(rng.integers(1, min(side, 12) + 1))
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        if oh >= 1 and ow >= 1:
            break
    channels = int(rng.integers(1, 6))
    return dict(kernel=k, stride=s, padding=p, height=h, width=w, channels=channels,
                out_h=oh, out_w=ow, c_bits=_clog2(channels), w_bits=_clog2(w),
                out_w_bits=_clog2(ow))


def _run(dut, geometry, events, *, event_gaps, ready_rate, seed):
    """Feed ``events`` ((index, magnitude) pairs) and collect the pairs; returns the pairs and
    the cycles the pair stream was idle between its first and last pair."""
    rng = np.random.default_rng(seed)
    got = []
    idle_between = []

    async def producer(ctx):
        g = dut.geometry
        for name in ("kernel", "stride", "padding", "c_bits", "w_bits", "out_w_bits"):
            ctx.set(getattr(g, name), geometry[name])
        ctx.set(g.band_first, geometry.get("band_first", 0))
        ctx.set(g.band_rows, geometry.get("band_rows", geometry["out_h"]))
        ctx.set(g.out_width, geometry["out_w"])
        for index, magnitude in events:
            while event_gaps and rng.random() < event_gaps:
                await ctx.tick()
            ctx.set(dut.event.valid, 1)
            ctx.set(dut.event.p.group, index)
            ctx.set(dut.event.p.magnitudes[0], magnitude)
            await ctx.tick().until(dut.event.ready)
            ctx.set(dut.event.valid, 0)

    async def consumer(ctx):
        quiet = 0
        for _ in range(40 * len(events) + 2000):
            ready = int(rng.random() < ready_rate)
            ctx.set(dut.pair.ready, ready)
            await ctx.delay(1e-9)
            valid = ctx.get(dut.pair.valid)
            if valid and ready:
                if got:
                    idle_between.append(quiet)
                p = dut.pair.p
                run = ctx.get(p.run)
                positions = [ctx.get(p.position) + i for i in range(dut.banks) if run >> i & 1]
                select = tuple(sorted((q % dut.banks, ctx.get(p.select[q % dut.banks]))
                                      for q in positions)) if dut.banks > 1 else ()
                got.append((ctx.get(p.kernel), ctx.get(p.position), run, select,
                            ctx.get(p.magnitude)))
                quiet = 0
            elif not valid:
                quiet += 1
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return got, sum(idle_between)


def _events(rng, geometry, count, banks=1):
    """Random events in hardware order, with their reference slots."""
    events, want = [], []
    for _ in range(count):
        c = int(rng.integers(0, geometry["channels"]))
        y = int(rng.integers(0, geometry["height"]))
        x = int(rng.integers(0, geometry["width"]))
        magnitude = int(rng.integers(1, 256))
        index = ((y << geometry["w_bits"]) | x) << geometry["c_bits"] | c
        events.append((index, magnitude))
        want += [slot + (magnitude,) for slot in reference_slots(
            c, y, x, banks=banks, **{k: geometry[k] for k in (
                "kernel", "stride", "padding", "out_h", "out_w", "out_w_bits", "band_first",
                "band_rows") if k in geometry})]
    return events, want


def test_reciprocal_division_is_exact():
    for map_bits in range(1, 13):
        limit = 1 << (max(map_bits, 3) + 1)
        for stride in range(1, 8):
            recip = reciprocal(stride, map_bits)
            n = np.arange(limit, dtype=np.int64)
            assert np.array_equal((n * recip) >> reciprocal_shift(map_bits), n // stride), \
                (map_bits, stride)


def test_landing_table():
    for stride in range(1, 8):
        for r in range(stride):
            for k in range(7):
                hit, offset = landing(r, stride, k)
                assert hit == ((r - k) % stride == 0)
                if hit:
                    assert offset * stride == r - k


@pytest.mark.parametrize("banks", [1, 2, 4, 8])
@pytest.mark.parametrize("case", range(6))
def test_pairs_match_enumeration(case, banks):
    rng = np.random.default_rng(SEED + case + 17 * banks)
    map_bits = 4
    geometry = random_geometry(rng, map_bits)
    events, want = _events(rng, geometry, 30, banks)
    dut = ConvAddress(index_bits=12, map_bits=map_bits, kernel_bits=10, banks=banks)
    got, _ = _run(dut, geometry, events, event_gaps=0.3, ready_rate=0.7, seed=SEED + case)
    assert got == want, geometry


@pytest.mark.parametrize("banks", [1, 4])
@pytest.mark.parametrize("case", range(4))
def test_pairs_in_a_band(case, banks):
    """Only the output rows of a band of the map, at positions relative to its first row
    (docs/architecture.md, "Bands of output rows"); an event that reaches nothing in the band
    emits nothing."""
    rng = np.random.default_rng(SEED + 100 + case)
    map_bits = 4
    while True:
        geometry = random_geometry(rng, map_bits)
        if geometry["out_h"] >= 2:
            break
    first = int(rng.integers(0, geometry["out_h"]))
    geometry.update(band_first=first,
                    band_rows=int(rng.integers(1, geometry["out_h"] - first + 1)))
    events, want = _events(rng, geometry, 30, banks)
    dut = ConvAddress(index_bits=12, map_bits=map_bits, kernel_bits=10, banks=banks)
    got, _ = _run(dut, geometry, events, event_gaps=0.3, ready_rate=0.7, seed=SEED + case)
    assert got == want, geometry


@pytest.mark.parametrize("kernel,stride,padding,size", [(5, 1, 2, 8), (2, 2, 0, 8),
                                                        (3, 2, 1, 9), (1, 1, 0, 5)])
def test_one_pair_per_cycle(kernel, stride, padding, size):
    """Events back to back and a consumer always ready: no idle cycle between the first pair
    and the last (5x5 conv, 2x2 pooling of one pair per event, stride 2 with padding, 1x1)."""
    rng = np.random.default_rng(SEED + kernel * 10 + stride)
    out = (size + 2 * padding - kernel) // stride + 1
    geometry = dict(kernel=kernel, stride=stride, padding=padding, height=size, width=size,
                    channels=3, out_h=out, out_w=out, c_bits=2, w_bits=_clog2(size),
                    out_w_bits=_clog2(out))
    events, _ = _events(rng, geometry, 40)
    dut = ConvAddress(index_bits=12, map_bits=4, kernel_bits=10)
    # only events that reach something: an empty one may leave S3 a cycle without a pair
    reach, want = [], []
    for index, magnitude in events:
        c, x = index & 3, (index >> 2) & ((1 << geometry["w_bits"]) - 1)
        y = index >> (2 + geometry["w_bits"])
        pairs = reference_pairs(c, y, x, kernel=kernel, stride=stride, padding=padding,
                                out_h=out, out_w=out, out_w_bits=geometry["out_w_bits"])
        if pairs:
            reach.append((index, magnitude))
            want += [(word, position, 1, (), magnitude) for word, position in pairs]
    got, idle = _run(dut, geometry, reach, event_gaps=0, ready_rate=1.0, seed=SEED)
    assert got == want
    assert idle == 0


def test_reference_is_the_convolution():
    """The enumeration from the input side equals numerics' definition from the output side:
    output (oy, ox) reads input (oy * s + ky - p, ox * s + kx - p)."""
    rng = np.random.default_rng(SEED)
    for _ in range(200):
        g = random_geometry(rng, 4)
        forward = set()
        for oy in range(g["out_h"]):
            for ox in range(g["out_w"]):
                for ky in range(g["kernel"]):
                    for kx in range(g["kernel"]):
                        y = oy * g["stride"] + ky - g["padding"]
                        x = ox * g["stride"] + kx - g["padding"]
                        if 0 <= y < g["height"] and 0 <= x < g["width"]:
                            forward.add((y, x, ky * g["kernel"] + kx,
                                         oy << g["out_w_bits"] | ox))
        backward = {(y, x) + pair for y in range(g["height"]) for x in range(g["width"])
                    for pair in reference_pairs(0, y, x, **{k: g[k] for k in (
                        "kernel", "stride", "padding", "out_h", "out_w", "out_w_bits")})}
        assert backward == forward, g


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_parameters_are_checked():
    with pytest.raises(ValueError, match=r"^map_bits is 0; it must be an integer in 1 \.\. 12$"):
        ConvAddress(index_bits=8, map_bits=0)
    with pytest.raises(ValueError, match=r"^index_bits is True; it must be an integer in "
                                         r"1 \.\. 32$"):
        ConvAddress(index_bits=True)
    with pytest.raises(ValueError, match=r"^kernel_bits is 40"):
        ConvAddress(index_bits=8, kernel_bits=40)
    with pytest.raises(ValueError, match=r"^banks is 3; it must be 1, 2, 4 or 8$"):
        ConvAddress(index_bits=8, banks=3)
