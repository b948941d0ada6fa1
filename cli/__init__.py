"""The command lines, on top of every other package: ``snn-accel <command>`` (:mod:`cli.main`).

One module per command that needs the simulators or the boards; ``python -m sw.<command>`` and
``python -m hw.generate`` run the same ``main`` functions.
"""
