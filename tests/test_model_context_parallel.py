"""One shot across several devices: the transformer's context-parallel plan names real modules
and forward arguments, and two CPU processes (gloo, Ulysses all-to-all) each holding half the
tokens give the single-process output, whatever the token counts."""
from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
from diffusers.models._modeling_parallel import ContextParallelInput, ContextParallelOutput

from anix_core.model.configs import TINY
from anix_core.model.transformer import AniXTransformer3DModel
from conftest import REPO


@pytest.mark.parametrize("layers", [dict(), dict(num_layers=0, num_single_layers=2), dict(num_layers=2, num_single_layers=0)])
def test_the_plan_splits_the_first_blocks_inputs_and_gathers_the_last_blocks_outputs(layers):
    model = AniXTransformer3DModel(**{**TINY, **layers})
    plan = model._cp_plan
    for name, entry in plan.items():
        modules = [m for n, m in model.named_modules() if n == name] if "*" not in name else \
            list(getattr(model, name.split(".")[0]))
        assert modules, f"{name} names no module"
        if isinstance(entry, dict):
            params = inspect.signature(type(modules[0]).forward).parameters
            assert set(entry) <= set(params), (name, set(entry) - set(params))
            assert all(isinstance(v, (ContextParallelInput, list)) for v in entry.values())
        else:
            assert all(isinstance(v, ContextParallelOutput) and v.gather_dim == 1 for v in entry)
    split = [name for name, entry in plan.items() if isinstance(entry, dict) and "hidden_states" in entry]
    gathered = [name for name, entry in plan.items() if isinstance(entry, list)]
    blocks = [f"transformer_blocks.{i}" for i in range(model.config.num_layers)] + \
             [f"single_transformer_blocks.{i}" for i in range(model.config.num_single_layers)]
    assert split == [blocks[0]] and gathered == [blocks[-1]]


def test_two_gloo_processes_each_holding_half_the_tokens_give_the_single_process_output():
    # odd token counts (63 image tokens, texts of 4 and 7 for the CFG pair) that gloo's equal
    # shares cannot split as they are, history levels, and a DeepCache step after a full one
    done = subprocess.run([sys.executable, "bench/context_parallel.py", "--ranks", "2", "--device", "cpu", "--history",
                           "--frames", "3", "--height", "6", "--width", "6", "--text", "7", "--cfg", "--deepcache"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    report = [line for line in done.stdout.splitlines() if line.startswith("ulysses")]
    assert done.returncode == 0 and report, done.stderr[-3000:]
    assert "63 image + CFG pair of 4 and 7 text tokens" in report[0]
    assert "first block attends from 32 image tokens" in report[0]  # of 63, padded to 64: the tokens were split
