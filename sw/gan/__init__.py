"""A time-to-first-spike generator (Spiking-GAN, Kotariya and Ganguly 2021) for the accelerator.

* :mod:`sw.gan.images`: the one decoding of output spike times into pixels, latent vectors as
  input pixels, image grids (numpy only: the command lines that sample need no torch)
* :mod:`sw.gan.loss`: the plain and the Aggressive TTFS losses
* :mod:`sw.gan.model`: the spiking generator (a :class:`sw.snn.SNN`), the ANN discriminator and
  the same-size ANN generator
* :mod:`sw.gan.spiking`: the spiking discriminator (fire-once IF neurons, TTFS), fed the
  generator's output spikes
* :mod:`sw.gan.train`: the recipe (``configs/mnist_gan.toml``), adversarial training and export

``docs/gan.md`` describes the method and its numbers. The package imports nothing itself, so
that ``sw.gan.images`` loads without torch.
"""
