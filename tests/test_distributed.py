"""Every rank of a distributed run must train the same subnets without talking about it."""
import os
import random
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from supernet.strategy import Phase, Progressive, Sandwich, step_rng


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, space, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    # each rank's global RNGs differ, as they would after rank-dependent data loading
    random.seed(100 + rank)
    torch.manual_seed(100 + rank)
    strategies = [Sandwich(num_random=3), Progressive([{"name": "all", "epochs": 1}], num_subnets=3)]
    mine = []
    for step in range(25):
        random.random(), torch.rand(1)  # rank-local randomness between steps
        for s in strategies:
            mine.append([str(a) for _, a in s.archs(space, Phase("p", 1), step_rng(seed=7, step=step))])
    gathered = [None] * world
    dist.all_gather_object(gathered, mine)
    if rank == 0:
        out.put(gathered)
    dist.destroy_process_group()


@pytest.mark.slow
def test_ranks_sample_the_same_subnets(tiny_space):
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, 2, port, tiny_space, out)) for r in range(2)]
    for p in procs:
        p.start()
    gathered = out.get(timeout=120)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert gathered[0] == gathered[1]
    flat = {a for step in gathered[0] for a in step}
    assert len(flat) > 10  # it really samples, not one fixed arch
