"""What every training command shares: resumable checkpoints, logs, a loss-curve PNG."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..fileio import atomic_write
from ..media.image import save_image
from ..plotting import line_panels

CHECKPOINT = "checkpoint.pt"
Optimizers = torch.optim.Optimizer | dict[str, torch.optim.Optimizer]


class Run:
    """A training run's folder: checkpoint (modules + optimiser + step + history + seconds
    trained), log, curve."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.step = 0
        self.seconds = 0.0  # training time over every session of this run
        self._started = time.time()

    def resume(self, modules: dict[str, torch.nn.Module], optimizer: Optimizers) -> int:
        """Load the last checkpoint if there is one; returns the step to continue from.
        optimizer: one optimiser, or a dict of them (a generator's and its discriminator's)."""
        path = self.out / CHECKPOINT
        if path.is_file():
            state = torch.load(path, weights_only=True)
            for name, module in modules.items():
                module.load_state_dict(state["modules"][name])
            if isinstance(optimizer, dict):
                for name, opt in optimizer.items():
                    opt.load_state_dict(state["optimizer"][name])
            else:
                optimizer.load_state_dict(state["optimizer"])
            self.step = int(state["step"])
            self.history = {k: [tuple(p) for p in v] for k, v in json.loads(state["history"]).items()}
            self.seconds = float(state.get("seconds", 0.0))
        return self.step

    def save(self, modules: dict[str, torch.nn.Module], optimizer: Optimizers) -> None:
        now = time.time()
        self.seconds, self._started = self.seconds + now - self._started, now
        state = {"modules": {k: m.state_dict() for k, m in modules.items()},
                 "optimizer": ({k: o.state_dict() for k, o in optimizer.items()} if isinstance(optimizer, dict)
                               else optimizer.state_dict()), "step": self.step, "history": json.dumps(self.history),
                 "seconds": self.seconds}
        atomic_write(self.out / CHECKPOINT, lambda p: torch.save(state, p))
        self.write_curve()

    def loop(self, steps: int, optimizer: torch.optim.Optimizer, peak_lr: float, desc: str, progress: bool,
             warmup: int = 200, floor: float = 0.0):
        """Yield once per remaining step, with the learning rate set (cosine_lr) and a progress bar."""
        self._started = time.time()
        with tqdm(total=steps, initial=self.step, desc=desc, disable=not progress) as self._bar:
            while self.step < steps:
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(self.step, steps, peak_lr, warmup, floor)
                yield self.step

    def optimise(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, params, max_norm: float = 1.0) -> None:
        """Backward, clip gradients to `max_norm`, step; count and log the step."""
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        optimizer.step()
        self.step += 1
        self.log(train=loss.item())
        self._bar.update()
        self._bar.set_postfix(loss=f"{loss.item():.3f}")

    def log(self, **values: float) -> None:
        for name, value in values.items():
            self.history.setdefault(name, []).append((self.step, float(value)))

    def write_curve(self) -> None:
        """loss.png: every logged series against the step, smoothed over 20 points."""
        if not self.history:
            return
        steps = np.array([s for s, _ in next(iter(self.history.values()))], dtype=np.float64)
        series = {}
        for name, points in self.history.items():
            x = np.array([s for s, _ in points], dtype=np.float64)
            y = np.array([v for _, v in points], dtype=np.float64)
            k = min(20, len(y))
            smooth = np.convolve(y, np.ones(k) / k, mode="valid") if k > 1 else y
            series[name] = np.interp(steps, x[k - 1:], smooth) if len(x) > 1 else np.full(len(steps), y[0])
        if len(steps) > 1:
            save_image(self.out / "loss.png", line_panels([("loss (smoothed) vs step", series)],
                                                          steps, panel_height=300, unit=""))
        (self.out / "log.json").write_text(json.dumps(self.history) + "\n", encoding="utf-8")


def cosine_lr(step: int, total: int, peak: float, warmup: int = 200, floor: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to floor × peak; a Python float (checkpoints load
    weights-only)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(total - warmup, 1))
    return float(peak * (floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * progress))))
