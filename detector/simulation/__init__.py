"""Simulated and real-background streams with injected gaming schemes and their ground truth.

* :mod:`~detector.simulation.datasets` — Bitcoin-Alpha (organic background, REV2 labels), Cresci 2015 profiles;
* :mod:`~detector.simulation.profiles` — profiles of organic and bought accounts, batch creation;
* :mod:`~detector.simulation.organic` — synthetic organic traffic;
* :mod:`~detector.simulation.schemes` — farming-ring and follower-burst injectors, :func:`inject`;
* :mod:`~detector.simulation.scenario` — :func:`generate`, from a seed to events and truth.
"""

from detector.simulation.datasets import LabelledStream, load_bitcoin_alpha, load_cresci_profiles
from detector.simulation.organic import OrganicConfig, OrganicTraffic, generate_organic
from detector.simulation.profiles import ProfileSampler, attach_profiles, batch_creation_times
from detector.simulation.scenario import BACKGROUNDS, BITCOIN_ALPHA, SYNTHETIC, SimulationConfig, generate
from detector.simulation.schemes import BurstShape, RingShape, inject, random_burst_shape, random_ring_shape

__all__ = [
    "BACKGROUNDS",
    "BITCOIN_ALPHA",
    "SYNTHETIC",
    "BurstShape",
    "LabelledStream",
    "OrganicConfig",
    "OrganicTraffic",
    "ProfileSampler",
    "RingShape",
    "SimulationConfig",
    "attach_profiles",
    "batch_creation_times",
    "generate",
    "generate_organic",
    "inject",
    "load_bitcoin_alpha",
    "load_cresci_profiles",
    "random_burst_shape",
    "random_ring_shape",
]
