"""Green CNN's elastic supernet: search space, elastic ops, supernet, data and training."""
from supernet.net import GreenNet, SuperNet, extract_subnet
from supernet.space import ArchConfig, SearchSpace

__all__ = ["ArchConfig", "GreenNet", "SearchSpace", "SuperNet", "extract_subnet"]
