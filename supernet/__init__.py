"""Green CNN's elastic supernet: search space, elastic ops, supernet, data and training."""
from supernet.arch import ArchConfig
from supernet.net import GreenNet, SuperNet, extract_subnet
from supernet.space import SearchSpace

__all__ = ["ArchConfig", "GreenNet", "SearchSpace", "SuperNet", "extract_subnet"]
