"""``python -m integrations.devtools.bench.day_sandbox``: the sandbox's own command line, with
offices of varied sizes (``bench day``).

``--guarantors-per-office`` becomes the median: each office's count of guarantors with a
balance is drawn from a log-normal around it (seeded, so the sandbox's cached files stay
valid from run to run): most offices small, a long tail of large ones, as in a real fleet.
"""

from __future__ import annotations

import dataclasses
import math
import sys

from odsandbox import __main__ as cli
from odsandbox.config import SandboxConfig, default_office_specs, seeded_rng

SIGMA = 0.8  # median x 0.45 to x 2.2 for the middle two thirds
SMALLEST, LARGEST_FACTOR = 10, 20


def office_sizes(config: SandboxConfig) -> list[int]:
    """Guarantors with a balance, office by office."""
    rng = seeded_rng(config.seed, "bench-day-sizes")
    median = config.guarantors_per_office
    return [
        max(SMALLEST, min(round(median * math.exp(rng.gauss(0, SIGMA))), median * LARGEST_FACTOR))
        for _ in range(config.offices)
    ]


def _config_with_spread(args) -> SandboxConfig:
    config = _plain_config(args)
    specs = default_office_specs(config)
    config.office_specs = [
        dataclasses.replace(spec, guarantors=size)
        for spec, size in zip(specs, office_sizes(config), strict=True)
    ]
    return config


_plain_config = cli.config_from_args

if __name__ == "__main__":
    cli.config_from_args = _config_with_spread  # the rest of the sandbox's main() as it is
    cli.main(sys.argv[1:])
