"""Ray for the scale-out commands: a local Ray by default, a cluster with an address.

``python -m sw.cosim --workers N`` (:mod:`sim.shard`) and ``python -m sw.sweep``
(:mod:`boards.sweep`) share this: :func:`ray_session` starts a local Ray with ``N`` CPUs (no
dashboard, no log lines) or joins a running cluster at ``address`` (``ray start --head`` on
one machine, ``ray start --address HEAD:6379`` on the others), and shuts down only what it
started. A Ray already initialised in this process (a test session's fixture) is used as it
is, so that each test does not pay Ray's start-up of several seconds.

Why Ray and not a home-made process pool: workers on other machines, actors that keep state
(a built simulator) between tasks, and restart of a worker that died, with its task retried,
all come with it; Dask would do the task part as well, but its actors are not restarted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket

from . import toolchain

__all__ = ["ClusterError", "ray_session", "import_ray"]


class ClusterError(RuntimeError):
    """Ray is missing or the cluster cannot be reached."""


def import_ray():
    """The ``ray`` module, or a :class:`ClusterError` that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ClusterError("Ray is not installed: pip install ray==2.60.0 (it is in "
                           "requirements.txt), or run with --workers 1") from None
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse at once an address where nothing listens: Ray itself retries for a minute,
    printing warnings, before it gives up."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        if address != "auto":
            raise ClusterError(f"--address {address} is not HOST:PORT, ray://HOST:PORT or auto")
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise ClusterError(f"nothing answers at {address} ({error.strerror or error}); start "
                           f"the cluster with 'ray start --head' there, or leave out --address "
                           f"for a local Ray") from None


@contextlib.contextmanager
def ray_session(workers: int, address: str | None = None):
    """Use Ray within the ``with`` block; yields the ``ray`` module.

    Parameters
    ----------
    workers : int
        CPUs of the local Ray started when none runs yet and ``address`` is None.
    address : str, optional
        A cluster's address (``HOST:6379`` or ``ray://HOST:10001``), or ``"auto"`` for the
        cluster this machine belongs to. Its nodes need this checkout at the same path (or run
        the command with ``ray job submit --working-dir .``) and the packages of
        ``requirements.txt``. Ray 2.60's clusters check a token: set ``RAY_AUTH_MODE=token``
        (the token is read from ``~/.ray/auth_token`` or ``RAY_AUTH_TOKEN``).
    """
    ray = import_ray()
    if address is not None:
        _check_reachable(address)
    if ray.is_initialized():
        yield ray
        return
    # The workers import the project from the driver's folder: a local Ray starts them there,
    # and PYTHONPATH makes that hold for a worker started from elsewhere too.
    path = os.environ.get("PYTHONPATH", "")
    if str(toolchain.ROOT) not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(toolchain.ROOT), path) if p)
    options = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
                   configure_logging=True)
    try:
        if address is None:
            # "local", not None: a RAY_ADDRESS in the environment must not send a run meant
            # for this machine to a cluster.
            ray.init(address="local", num_cpus=workers, **options)
        else:
            options.pop("include_dashboard")
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ClusterError(f"cannot start {where}: {error}") from None
    try:
        yield ray
    finally:
        ray.shutdown()
