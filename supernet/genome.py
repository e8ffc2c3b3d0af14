"""The integer genome of a :class:`~supernet.space.SearchSpace`, the form the evolution searches.

One gene per choice, in a fixed order: [resolution] + depth per stage (+ output width per stage, in a
space with widths) + (kernel, expand ratio) per block of every stage at its largest depth. The
canonical genome of an arch sets the genes of skipped blocks to 0, so equal subnets meet under one key.
"""
from __future__ import annotations

from typing import Sequence

from supernet.arch import ArchConfig
from core.errors import ArchError


class Genome:
    """The genome methods of :class:`~supernet.space.SearchSpace` (which has the ``stages``, ``resolutions``,
    ``has_widths`` and ``validate`` they read)."""

    def gene_sizes(self) -> list[int]:
        """Number of choices of each gene: [resolution] + depth per stage (+ output width per stage, in a space with
        widths) + (kernel, expand ratio) per block."""
        sizes = [len(self.resolutions)] + [len(s.depths) for s in self.stages]
        if self.has_widths:
            sizes += [len(s.widths) for s in self.stages]
        for s in self.stages:
            sizes += [len(s.kernel_sizes), len(s.exp_ratios)] * s.max_depth
        return sizes

    def gene_kinds(self) -> list[str]:
        """How each gene's choices relate: all ``ordinal`` here (resolutions, depths, kernel sizes and expand
        ratios are kept sorted), so the evolution moves a gene to neighbouring choices."""
        return ["ordinal"] * len(self.gene_sizes())

    def encode(self, arch: ArchConfig) -> list[int]:
        """Integer genome of ``arch`` in canonical form (genes of skipped blocks are 0)."""
        arch = self.validate(arch)
        genome = [self.resolutions.index(arch.resolution)]
        genome += [s.depths.index(len(ks)) for s, ks in zip(self.stages, arch.kernel_sizes)]
        if self.has_widths:
            genome += [s.widths.index(w) for s, w in zip(self.stages, arch.widths)]
        for s, ks, es in zip(self.stages, arch.kernel_sizes, arch.exp_ratios):
            for j in range(s.max_depth):
                if j < len(ks):
                    genome += [s.kernel_sizes.index(ks[j]), s.exp_ratios.index(es[j])]
                else:
                    genome += [0, 0]
        return genome

    def decode(self, genome: Sequence[int]) -> ArchConfig:
        """Arch of an integer genome; genes of skipped blocks are ignored."""
        sizes = self.gene_sizes()
        if len(genome) != len(sizes):
            raise ArchError(f"genome has {len(genome)} genes, the space needs {len(sizes)}")
        for i, (g, n) in enumerate(zip(genome, sizes)):
            if not 0 <= int(g) < n:
                raise ArchError(f"gene {i} is {g}, must be in [0, {n})")
        n_st = len(self.stages)
        res = self.resolutions[genome[0]]
        depths = [s.depths[g] for s, g in zip(self.stages, genome[1:1 + n_st])]
        pos, ks, es, ws = 1 + n_st, [], [], None
        if self.has_widths:
            ws = tuple(s.widths[g] for s, g in zip(self.stages, genome[pos:pos + n_st]))
            pos += n_st
        for s, d in zip(self.stages, depths):
            genes = genome[pos:pos + 2 * s.max_depth]
            ks.append(tuple(s.kernel_sizes[genes[2 * j]] for j in range(d)))
            es.append(tuple(s.exp_ratios[genes[2 * j + 1]] for j in range(d)))
            pos += 2 * s.max_depth
        return ArchConfig(res, tuple(ks), tuple(es), ws)

    def canonical(self, genome: Sequence[int]) -> tuple[int, ...]:
        """Canonical genome: the cache key under which equal subnets meet."""
        return tuple(self.encode(self.decode(genome)))
