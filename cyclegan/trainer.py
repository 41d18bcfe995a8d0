"""The CycleGAN training loop (reference `cycle_gan_model.py` + `train.py`), as an iterator of epochs.

    for report in Trainer(cfg).epochs():   # the CLI prints, the Ray trainable reports; the engine
        ...                                # knows neither
Each `EpochReport` has the epoch's metrics (SPEC §3 names), the evaluation provenance, the sample grid
paths and the checkpoint just written. The run's files and what a checkpoint holds are in
`run_files.py`; this module is the algorithm. The learning rate is a pure function of the epoch
(`lr_factor`), and data sampling is derived from (seed, epoch), so neither needs state of its own.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from . import losses
from .checkpoint import save_atomic
from .config import Config
from .configtools import UserError, flatten, to_dict
from .data import UnpairedData, load_data, place_train_images
from .diffaugment import DiffAugment
from .image_pool import ImagePool
from .networks import build_discriminator, build_generator, count_parameters
from .run_files import RunFolder, restore_training_state, training_state


class TrainingDiverged(RuntimeError):
    """A loss became NaN or Inf; the run stops at once instead of training on garbage."""


def lr_factor(epoch: int, epochs: int, decay_epochs: int) -> float:
    """Learning-rate multiplier for 1-based `epoch`: 1 for `epochs` epochs, then linear towards 0.

    The reference `lambda_rule`, 1 - max(0, e + epoch_count - n_epochs) / (n_epochs_decay + 1), stepped
    after each epoch as in the original release: the last epoch still trains at 1/(decay_epochs + 1).
    """
    return 1.0 - max(0, epoch - epochs) / float(decay_epochs + 1)


@dataclass
class EpochReport:
    epoch: int
    metrics: dict
    provenance: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)
    checkpoint: Path | None = None
    final: bool = False


def idle_cores() -> int:
    """CPU threads for `train.threads=0`: the cores this process may use minus those other processes keep
    busy now, at least 1. torch's default (every core) is as fast on an idle machine, but beside another
    busy process its OpenMP threads wait on each other while one of them is descheduled: the README's first
    run took 3.3x longer than with one thread (benchmarks/threads.py)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, cores - busy_cores()))


def busy_cores() -> int:
    """Cores other processes keep busy now: the runnable tasks in /proc/loadavg besides this one (median
    of a few samples), not the 1-minute average, which still counts a job that ended a minute ago."""
    samples = []
    for _ in range(5):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):  # not Linux: the 1-minute load average
            return int(os.getloadavg()[0] + 0.5) if hasattr(os, "getloadavg") else 0
        samples.append(max(0, running - 1))
        time.sleep(0.01)
    return sorted(samples)[len(samples) // 2]


def cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device=cuda but no CUDA GPU is visible; use train.device=auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


class Trainer:
    """G_A: A -> B (the paper's G), G_B: B -> A (F), D_A judges domain A (D_X), D_B judges domain B (D_Y)."""

    def __init__(self, cfg, data: UnpairedData | None = None, log=print, progress: bool | None = None):
        self.cfg, self.log = cfg, log
        self.progress = sys.stderr.isatty() if progress is None else progress  # tqdm bar on a terminal
        # a progress line through `log` at least every heartbeat_s when that output is not a terminal
        # (a log file, nohup, CI, a cluster job), where the bar never draws
        self.heartbeat = not (sys.stdout.isatty() if progress is None else progress)
        self.heartbeat_s = 30.0
        t = cfg.train
        self.threads = t.threads or idle_cores()
        torch.set_num_threads(self.threads)
        self.device = pick_device(t.device)
        self.out_dir = Path(t.out_dir)
        self.files = RunFolder(self.out_dir)
        self.files.check(cfg.resume)
        torch.manual_seed(t.seed)
        self.data = data if data is not None else load_data(cfg)
        self.data, on_device = place_train_images(self.data, self.device, cfg.data.placement)
        if on_device:
            log(f"train images on {self.device}: cropped and flipped there, no per-step host copy")

        self.nets = {"G_A": build_generator(cfg.model), "G_B": build_generator(cfg.model),
                     "D_A": build_discriminator(cfg.model), "D_B": build_discriminator(cfg.model)}
        self.use_d = cfg.loss.lambda_gan > 0  # "cycle only" ablation: no discriminators to train
        memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
        for net in self.nets.values():
            net.to(self.device, memory_format=memory_format)
        self.memory_format = memory_format
        self.one_pass = cfg.model.norm != "batch"  # see `run`: inputs of one net share a pass unless norm mixes them
        # torch.compile wraps the modules for the forward passes; state dicts come from the originals.
        self.run_nets = {k: torch.compile(v) if t.compile else v for k, v in self.nets.items()}
        # bf16 autocast on CUDA, and on CPUs with native bf16 (AMX / AVX-512 BF16: oneDNN runs the
        # convolutions in bf16); elsewhere bf16 is emulated and slower than float32.
        self.amp = t.amp and (self.device.type == "cuda" or cpu_has_bf16())
        if t.amp and not self.amp:
            log("note: this CPU has no native bf16 (AMX / AVX-512 BF16): train.amp ignored, training in float32")

        o = cfg.optim
        g_params = list(self.nets["G_A"].parameters()) + list(self.nets["G_B"].parameters())
        d_params = list(self.nets["D_A"].parameters()) + list(self.nets["D_B"].parameters())
        # The fused kernel updates all parameters in one pass: on the CPU 7 ms against 24 ms a step at
        # ResNet-9 / ngf 32 (2-3 % of the step). A checkpoint restores the kind it was saved with.
        fused = self.device.type in ("cpu", "cuda")
        self.opt_g = torch.optim.Adam(g_params, lr=o.lr_g, betas=(o.beta1, o.beta2), fused=fused)
        self.opt_d = torch.optim.Adam(d_params, lr=o.lr_d, betas=(o.beta1, o.beta2), fused=fused)
        self.pool_a, self.pool_b = ImagePool(t.pool_size, seed=t.seed), ImagePool(t.pool_size, seed=t.seed + 1)
        self.augment = DiffAugment(t.diffaugment, seed=t.seed)  # what D_A and D_B see; identity when off
        self.epoch, self.elapsed = 0, 0.0
        self.evaluator = None
        if cfg.eval.every:  # load the FID backbone now: missing weights must stop the run before training
            from .evaluation import Evaluator
            self.evaluator = Evaluator(cfg.eval, self.data, self.device)  # always fp32, whatever train.amp
        if cfg.resume:
            self.restore(self.files.last_checkpoint)
        self.out_dir.mkdir(parents=True, exist_ok=True)  # only now: every check above has passed

    # -- set-up -----------------------------------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def describe(self) -> None:
        """What this run is, in a few lines: the keys set away from their defaults (the whole resolved config
        is in config.yaml), each network's size and the data."""
        defaults, mine = flatten(to_dict(Config())), flatten(to_dict(self.cfg))
        changed = [f"{k}={v}" for k, v in mine.items() if defaults.get(k) != v]
        self.log(f"config: {' '.join(changed) or 'the defaults'} (all keys: {self.out_dir / 'config.yaml'})")
        for name, net in self.nets.items():
            if name.startswith("G") or self.use_d:
                self.log(f"{name}: {count_parameters(net):,} parameters")
        d = self.data
        threads = f" ({self.threads} CPU thread{'s' if self.threads != 1 else ''})" if self.device.type == "cpu" else ""
        self.log(f"data {d.name}: train {len(d.train_a)} A / {len(d.train_b)} B, test {len(d.test_a)} A / "
                 f"{len(d.test_b)} B; device {self.device}{threads}")

    # -- one optimisation step ----------------------------------------------------------------------
    def train_step(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """One generator step then one discriminator step (reference `optimize_parameters`)."""
        G_A, G_B, D_A, D_B = (self.run_nets[k] for k in ("G_A", "G_B", "D_A", "D_B"))
        lo = self.cfg.loss
        # A weight of 0 removes its term and the forward passes that only it needs.
        need_fake_b = lo.lambda_gan > 0 or lo.cyc_a > 0
        need_fake_a = lo.lambda_gan > 0 or lo.cyc_b > 0
        use_id = lo.lambda_id > 0
        with self.autocast():
            fake_b, idt_b = self.run(G_A, real_a if need_fake_b else None,  # G(a);  G(b) ~ b (identity)
                                     real_b if use_id else None)
            fake_a, idt_a = self.run(G_B, real_b if need_fake_a else None,  # F(b);  F(a) ~ a (identity)
                                     real_a if use_id else None)
            rec_a = G_B(fake_b) if lo.cyc_a > 0 else None                    # F(G(a)) ~ a   (Eqn. 2, forward)
            rec_b = G_A(fake_a) if lo.cyc_b > 0 else None                    # G(F(b)) ~ b   (Eqn. 2, backward)
            # The generators are judged by discriminators that must not learn from this step, through
            # the same DiffAugment transforms D trains with (differentiable: G's gradient passes through).
            self.set_requires_grad(("D_A", "D_B"), False)
            pred_fake_b = D_B(self.augment(fake_b)) if self.use_d else None
            pred_fake_a = D_A(self.augment(fake_a)) if self.use_d else None
            terms = losses.generator_terms(
                real_a=real_a, real_b=real_b, fake_a=fake_a, fake_b=fake_b, rec_a=rec_a, rec_b=rec_b,
                idt_a=idt_a, idt_b=idt_b, pred_fake_a=pred_fake_a, pred_fake_b=pred_fake_b,
                gan_mode=lo.gan_mode, lambda_gan=lo.lambda_gan, lambda_cyc_a=lo.cyc_a, lambda_cyc_b=lo.cyc_b,
                lambda_id=lo.lambda_id)
        self.opt_g.zero_grad(set_to_none=True)
        terms["loss_G"].backward()
        self.opt_g.step()

        if self.use_d:
            self.set_requires_grad(("D_A", "D_B"), True)
            with self.autocast():
                # D sees a history of fakes (image pool) so it does not chase the latest generator.
                terms["loss_D_A"] = self.discriminator_loss(D_A, real_a, self.pool_a.query(fake_a))
                terms["loss_D_B"] = self.discriminator_loss(D_B, real_b, self.pool_b.query(fake_b))
            terms["loss_D"] = terms["loss_D_A"] + terms["loss_D_B"]
            self.opt_d.zero_grad(set_to_none=True)
            terms["loss_D"].backward()
            self.opt_d.step()
        return {k: v.detach() for k, v in terms.items()}

    def discriminator_loss(self, D, real, fake):
        real, fake = self.augment.pair(real, fake.detach())  # one policy for both, so D cannot tell them by it
        lo = self.cfg.loss
        penalty = losses.gradient_penalty(D, real, fake) if lo.gan_mode == "wgangp" and lo.lambda_gp > 0 else None
        pred_real, pred_fake = self.run(D, real, fake)
        return losses.discriminator_terms(pred_real=pred_real, pred_fake=pred_fake, gan_mode=lo.gan_mode,
                                          penalty=penalty, lambda_gp=lo.lambda_gp)

    def run(self, net, *inputs):
        """`net(x)` for each input that is not None (None gives None), in one pass over all of them where
        the norm allows. Instance norm normalises each image alone, so one pass over a batch of two computes
        what two passes compute, in half as many (larger) convolutions: a step takes 0.93x the time on a CPU
        at ResNet-9 / 128 px (benchmarks/cpu_step.py). Batch norm would mix the inputs' statistics: with it
        each input runs alone, as in the reference."""
        present = [x for x in inputs if x is not None]
        if self.one_pass and len(present) > 1:
            outputs = iter(net(torch.cat(present)).split([len(x) for x in present]))
        else:
            outputs = iter([net(x) for x in present])
        return tuple(None if x is None else next(outputs) for x in inputs)

    def set_requires_grad(self, names, flag: bool) -> None:
        for name in names:
            self.nets[name].requires_grad_(flag)

    # -- epochs -----------------------------------------------------------------------------------
    def set_learning_rates(self, epoch: int) -> None:
        factor = lr_factor(epoch, self.cfg.train.epochs, self.cfg.train.decay_epochs)
        for opt, base in ((self.opt_g, self.cfg.optim.lr_g), (self.opt_d, self.cfg.optim.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base * factor

    def train_epoch(self, epoch: int) -> dict:
        t, d = self.cfg.train, self.data
        self.set_learning_rates(epoch)
        sums: dict[str, torch.Tensor] = {}
        steps, images, start = 0, 0, time.perf_counter()
        bar = tqdm(d.batches(epoch, t.batch_size, self.cfg.data.crop_size, t.seed), total=d.steps_per_epoch(t.batch_size),
                   desc=f"epoch {epoch}/{self.cfg.total_epochs}", disable=not self.progress, leave=False)
        total_steps, next_beat = d.steps_per_epoch(t.batch_size), start + self.heartbeat_s
        for real_a, real_b in bar:
            now = time.perf_counter()
            if self.heartbeat and now >= next_beat and steps:
                rate, left = images / (now - start), (total_steps - steps) * (now - start) / steps
                self.log(f"epoch {epoch}/{self.cfg.total_epochs}: step {steps}/{total_steps}, {rate:.1f} images/s, "
                         f"epoch done in ~{left:.0f} s")
                next_beat = now + self.heartbeat_s
            real_a = real_a.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
            real_b = real_b.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
            for key, value in self.train_step(real_a, real_b).items():
                sums[key] = sums[key] + value if key in sums else value.float()
            steps, images = steps + 1, images + len(real_a)
            if steps % 50 == 0:  # one host sync every 50 steps: a NaN is caught within the epoch
                self.check_finite(sums, epoch, steps)
        self.check_finite(sums, epoch, steps)
        seconds = time.perf_counter() - start
        self.elapsed += seconds
        metrics = {k: float(v) / steps for k, v in sums.items() if k not in ("loss_D_A", "loss_D_B")}
        metrics.update(epoch=epoch, time_s=self.elapsed, images_per_s=images / seconds,
                       lr_g=self.opt_g.param_groups[0]["lr"], lr_d=self.opt_d.param_groups[0]["lr"])
        return metrics

    def check_finite(self, sums: dict, epoch: int, steps: int) -> None:
        for key, value in sums.items():
            if not math.isfinite(float(value)):
                raise TrainingDiverged(f"{key} became {float(value)} in epoch {epoch} by step {steps} "
                                       f"(optim.lr_g={self.cfg.optim.lr_g:g}, optim.lr_d={self.cfg.optim.lr_d:g}); "
                                       "lower the learning rates")

    def epochs(self):
        """Train the remaining epochs, yielding an EpochReport after each (with eval and checkpoint)."""
        if self.epoch == 0:
            self.files.write_config(self.cfg)
        total, every = self.cfg.total_epochs, self.cfg.eval.every
        for epoch in range(self.epoch + 1, total + 1):
            final = epoch == total
            metrics = self.train_epoch(epoch)
            provenance, images = {}, {}
            if every and (epoch % every == 0 or final):
                scores, provenance, images = self.evaluate(epoch)
                metrics.update(scores)
            self.epoch = epoch
            # The metrics line is on disk before the checkpoint that claims the epoch: a kill between the
            # two leaves a line past the checkpoint, which resume drops and recomputes (never a gap).
            self.files.append_metrics(metrics, provenance)
            checkpoint = None
            if epoch % self.cfg.train.checkpoint_every == 0 or final:
                checkpoint = self.save(self.files.last_checkpoint)
            yield EpochReport(epoch, metrics, provenance, images, checkpoint, final)

    def evaluate(self, epoch: int):
        metrics, provenance, grids = self.evaluator.evaluate(self.run_nets["G_A"], self.run_nets["G_B"], epoch,
                                                             self.out_dir / "samples")
        # Evaluation itself is fp32; how the generators were trained is provenance all the same, so that
        # bf16-trained and fp32-trained trials are never ranked together.
        return metrics, dict(provenance, amp=self.amp), grids

    # -- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return training_state(self)

    def save(self, path: Path) -> Path:
        save_atomic(self.state_dict(), path)
        return path

    def restore(self, path: Path) -> None:
        restore_training_state(self, path)
        self.files.truncate_metrics(self.epoch)
        self.log(f"resumed from {path} at epoch {self.epoch}")
