"""Host driver of the accelerator over any :class:`~core.transport.Transport`.

The same code drives a board over UART or PCIe and a simulator (Verilator, Amaranth), because
it only reads and writes the memory map of ``docs/memory-map.md``::

    with SomeTransport(...) as link:
        device = Device(link)
        device.identify()          # reads the configuration, checks the magic
        device.load(network)       # checks the network fits, then writes it
        result = device.infer(pixels)
        print(result.cls, result.cycles)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from core import memmap
from core.config import ENCODER_CODES, Config
from core.network import Network
from core.transport import Transport, TransportError

from .compiler import compile_network, input_writes
from .options import progress

__all__ = ["DeviceError", "Result", "Device", "config_from_registers"]


class DeviceError(TransportError):
    """The device answered, but not as an accelerator should (wrong magic, stuck busy)."""


@dataclass
class Result:
    """Outcome of one inference.

    Attributes
    ----------
    cls : int
        Class chosen by the read-out.
    first_time : numpy int64 (n_classes,)
        First spike step of each output neuron, 255 if it never fired.
    first_potential : numpy int64 (n_classes,)
        Potential in that step (0 if it never fired).
    membrane : numpy int64 (n_classes,)
        Final membrane potentials of the output neurons.
    cycles : int
        Clock cycles from start to done.
    count : numpy int64 (n_classes,) or None
        Spikes of each output neuron over the inference; read from hardware built with
        ``spike_count``, else None.
    """
    cls: int
    first_time: np.ndarray
    first_potential: np.ndarray
    membrane: np.ndarray
    cycles: int
    count: np.ndarray | None = None


def _signed(word: int) -> int:
    return word - (1 << 32) if word & (1 << 31) else word


def config_from_registers(words: dict[int, int]) -> Config:
    """Rebuild the :class:`~core.config.Config` from identification register values."""
    encoders = tuple(name for name, code in ENCODER_CODES.items()
                     if words[memmap.REG_CFG_ENCODERS] >> code & 1)
    return Config(
        lanes=words[memmap.REG_CFG_LANES], neuron_units=words[memmap.REG_CFG_UNITS],
        pixels_per_cycle=words[memmap.REG_CFG_PIXELS_PER_CYCLE],
        inputs_per_cycle=words[memmap.REG_CFG_INPUTS_PER_CYCLE],
        weight_bits=words[memmap.REG_CFG_WEIGHT_BITS],
        membrane_bits=words[memmap.REG_CFG_MEMBRANE_BITS],
        max_layers=words[memmap.REG_CFG_MAX_LAYERS],
        max_neurons=words[memmap.REG_CFG_MAX_NEURONS],
        max_inputs=words[memmap.REG_CFG_MAX_INPUTS],
        max_timesteps=words[memmap.REG_CFG_MAX_TIMESTEPS],
        weight_words=words[memmap.REG_CFG_WEIGHT_WORDS],
        dsp_lanes=words[memmap.REG_CFG_DSP_LANES],
        encoders=encoders, trace=bool(words[memmap.REG_CFG_TRACE]),
        # 0 on bitstreams built before the register: the result memory had max_neurons
        max_classes=words.get(memmap.REG_CFG_MAX_CLASSES, 0) or None,
        **_options(words.get(memmap.REG_CFG_OPTIONS, 0), words))


def _options(options: int, words: dict) -> dict:
    """The ``Config`` fields of a ``CFG_OPTIONS`` word (0 on bitstreams older than it), and
    the conv sizes when it says ``CONV``."""
    fields = {"bias": bool(options & memmap.OPTION_BIAS),
              "spike_count": bool(options & memmap.OPTION_SPIKE_COUNT),
              "stream": bool(options & memmap.OPTION_STREAM)}
    if options & memmap.OPTION_CONV:
        fields.update(conv=True, conv_lanes=words[memmap.REG_CFG_CONV_LANES],
                      conv_positions=words[memmap.REG_CFG_CONV_POSITIONS],
                      conv_acc_bits=words.get(memmap.REG_CFG_CONV_ACC_BITS, 0) or None,
                      # 0 on bitstreams built before the banks: one
                      conv_banks=words.get(memmap.REG_CFG_CONV_BANKS, 0) or 1)
    return fields


class Device:
    """Driver of one accelerator.

    Parameters
    ----------
    transport : core.transport.Transport
    timeout : float or None
        Seconds an inference may take before :class:`DeviceError` (a hung device); None:
        the transport's ``inference_timeout`` (10 s, an hour for a simulator).
    """

    def __init__(self, transport: Transport, timeout: float | None = None):
        if not isinstance(transport, Transport):
            raise TypeError(f"transport must be a core.transport.Transport, not "
                            f"{type(transport).__name__}")
        self.transport = transport
        self.timeout = transport.inference_timeout if timeout is None else timeout
        self.config: Config | None = None
        self.network: Network | None = None

    # -- registers ---------------------------------------------------------------------------
    def _read(self, reg: int) -> int:
        return self.transport.read_word(4 * reg)

    def _write(self, reg: int, value: int) -> None:
        self.transport.write_word(4 * reg, value)

    def status(self) -> int:
        return self._read(memmap.REG_STATUS)

    # -- API ---------------------------------------------------------------------------------
    def identify(self) -> Config:
        """Read the identification registers; return the hardware's :class:`Config`."""
        magic, version = self.transport.read(4 * memmap.REG_MAGIC, 2)
        if magic != memmap.MAGIC:
            raise DeviceError(f"magic register reads {magic:#010x}, expected "
                              f"{memmap.MAGIC:#010x}: the device is not an SNN accelerator, "
                              f"or the link is wrong (port, baud rate, bitstream)")
        if version >> 16 != memmap.VERSION >> 16:
            raise DeviceError(f"memory map version {version >> 16}.{version & 0xFFFF}, this "
                              f"driver speaks {memmap.VERSION >> 16}.x: update sw or the "
                              f"bitstream")
        first = memmap.REG_CFG_LANES
        last = memmap.REG_CFG_CONV_BANKS
        values = self.transport.read(4 * first, last - first + 1)
        words = {first + i: v for i, v in enumerate(values)}
        self.config = config_from_registers(words)
        if words[memmap.REG_CFG_WEIGHT_BASE] != self.config.weight_base:
            raise DeviceError("the weight window is not where this driver computes it; "
                              "update sw to the bitstream's version")
        return self.config

    def _need_config(self) -> Config:
        return self.config if self.config is not None else self.identify()

    def load(self, network: Network) -> None:
        """Write ``network``'s parameters and weights (checks first that it fits)."""
        config = self._need_config()
        writes = compile_network(network, config)  # raises FitError before any write
        self._idle()
        # Tens of seconds over a slow link: a bar on a terminal, nothing in logs.
        with progress(total=sum(len(words) for _, words in writes), desc="upload",
                      unit="word") as bar:
            for address, words in writes:
                self.transport.write(address, words)
                bar.update(len(words))
        if config.stream:
            # Forget what an earlier host left in the input queue and the result slots.
            self._write(memmap.REG_CONTROL, memmap.CONTROL_CLEAR)
        self.network = network

    def _idle(self) -> None:
        if self.status() & memmap.STATUS_BUSY:
            raise DeviceError("the accelerator is busy; wait for the inference or call "
                              "abort() first")

    def start(self, pixels) -> None:
        """Write one image and start an inference (returns at once). With the input queue
        (``Config.stream``) the image is written in the compact format while an inference may
        run, and START queues it (:meth:`infer_batch` keeps the accelerator busy so)."""
        if self.network is None:
            raise DeviceError("no network loaded; call load(network) first")
        config = self._need_config()
        if not config.stream:
            self._idle()
        for address, words in input_writes(pixels, config, self.network):
            self.transport.write(address, words)
        if not config.stream:
            self._write(memmap.REG_CONTROL, memmap.CONTROL_CLEAR)
        self._write(memmap.REG_CONTROL, memmap.CONTROL_START)

    def wait(self) -> int:
        """Wait for the running inference (with ``Config.stream``: for the oldest queued
        image's result); return the status word."""
        deadline = time.monotonic() + self.timeout
        stream = self._need_config().stream
        while True:
            status = self.status()
            if (status & memmap.STATUS_READY if stream
                    else not status & memmap.STATUS_BUSY):
                return status
            if time.monotonic() > deadline:
                raise DeviceError(f"the inference did not finish within {self.timeout} s; "
                                  f"call abort() and check the clock and the network")

    def results(self) -> Result:
        """Read the results of the last finished inference (with ``Config.stream``: of the
        oldest unread one; :meth:`pop` frees its slot)."""
        config = self._need_config()
        n = self.network.n_classes
        R = config.region_bits
        time_ = self.transport.read(4 * memmap.result_array(R, memmap.RESULT_FIRST_TIME), n)
        pot = self.transport.read(4 * memmap.result_array(R, memmap.RESULT_FIRST_POTENTIAL), n)
        mem = self.transport.read(4 * memmap.result_array(R, memmap.RESULT_FINAL_MEMBRANE), n)
        count = None
        if config.spike_count:
            count = np.array(self.transport.read(
                4 * memmap.result_array(R, memmap.RESULT_SPIKE_COUNT), n), np.int64)
        cycles, cls = self.transport.read(4 * memmap.REG_CYCLES, 2)
        return Result(cls=cls, first_time=np.array(time_, np.int64),
                      first_potential=np.array([_signed(p) for p in pot], np.int64),
                      membrane=np.array([_signed(v) for v in mem], np.int64), cycles=cycles,
                      count=count)

    def pop(self) -> None:
        """``Config.stream``: the oldest unread result is read; free its slot."""
        self._write(memmap.REG_CONTROL, memmap.CONTROL_POP)

    def _finished(self) -> Result:
        status = self.wait()
        if self._need_config().stream:
            if status & memmap.STATUS_REJECTED:
                raise DeviceError("the device rejected a write or a START (status "
                                  f"{status:#x}); the results are not trustworthy")
            result = self.results()
            self.pop()
            return result
        if not status & memmap.STATUS_DONE:
            raise DeviceError(f"the inference stopped without finishing (status "
                              f"{status:#x}); was it aborted?")
        return self.results()

    def infer(self, pixels) -> Result:
        """Run one image (``n_in`` ints in 0 .. 255) and return its :class:`Result`."""
        self.start(pixels)
        return self._finished()

    def infer_batch(self, pixels) -> list[Result]:
        """Run each row of ``pixels`` (B, n_in) in turn. With the input queue
        (``Config.stream``) image ``k + 1`` is written and queued while image ``k`` computes,
        and its result read afterwards."""
        pixels = np.asarray(pixels)
        if not self._need_config().stream:
            return [self.infer(row) for row in pixels]
        out = []
        for k, row in enumerate(pixels):
            self.start(row)
            if k:
                out.append(self._finished())
        if len(pixels):
            out.append(self._finished())
        return out

    def predict(self, pixels) -> np.ndarray:
        """Classes of a batch of images, int64 (B,)."""
        return np.array([r.cls for r in self.infer_batch(pixels)], np.int64)

    def abort(self) -> None:
        """Stop a running inference; the accelerator is idle afterwards."""
        self._write(memmap.REG_CONTROL, memmap.CONTROL_ABORT)
        if self.status() & memmap.STATUS_BUSY:
            raise DeviceError("the accelerator is still busy after an abort")
