"""Frozen, validated configs of the world model and its training, and their JSON / command-line forms.

Every field is documented by the string under it; `field_docs` reads those strings so the CLI help and the code
cannot drift apart. Invalid values raise ValueError naming the field and the value.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import math
import textwrap
import typing
from typing import Any, TypeVar

C = TypeVar("C")
PROPRIO_KEYS = ("none", "joint_pos", "joint_vel")
"""Recorded arrays an encoder may read beside the image."""


def _require(ok: bool, obj: object, name: str, want: str) -> None:
    if not ok:
        raise ValueError(f"{type(obj).__name__}.{name} must be {want}, got {getattr(obj, name)!r}")


def _positive_int(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _require(isinstance(value, int) and not isinstance(value, bool) and value > 0, obj, name, "an int > 0")


def _nonneg_float(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
        _require(ok, obj, name, "a finite number >= 0")


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Conv encoder: uint8 RGB (+ optional proprioception) -> one latent vector."""

    image_size: int = 64
    """Side of the square input image in pixels; other sizes are resized to it."""
    widths: tuple[int, ...] = (32, 64, 128, 256)
    """Channels of each stride-2 conv stage; image_size must be divisible by 2**len(widths)."""
    proprio_dim: int = 0
    """Size of the proprioception vector fed beside the image (0: image only)."""
    proprio_key: str = "none"
    """Which recorded array is the proprioception: 'none', 'joint_pos' or 'joint_vel' (velocity is what one
    image cannot show: torque-driven arms such as the dm_control Reacher need it to predict their motion)."""
    proprio_hidden: int = 64
    """Width of the proprioception embedding."""

    def __post_init__(self) -> None:
        _positive_int(self, "image_size", "proprio_hidden")
        _require(len(self.widths) > 0 and all(isinstance(w, int) and w > 0 for w in self.widths), self, "widths",
                 "a non-empty tuple of positive ints")
        _require(self.image_size % 2 ** len(self.widths) == 0, self, "image_size",
                 f"divisible by 2**len(widths) = {2 ** len(self.widths)}")
        _require(self.proprio_key in PROPRIO_KEYS, self, "proprio_key", f"one of {PROPRIO_KEYS}")
        _require(isinstance(self.proprio_dim, int) and self.proprio_dim >= 0, self, "proprio_dim", "an int >= 0")
        _require((self.proprio_dim > 0) == (self.proprio_key != "none"), self, "proprio_dim",
                 f"> 0 exactly when proprio_key is not 'none' (proprio_key={self.proprio_key!r})")

    @property
    def feature_size(self) -> int:
        """Side of the last conv feature map."""
        return self.image_size // 2 ** len(self.widths)


@dataclasses.dataclass(frozen=True)
class PredictorConfig:
    """Action-conditioned residual MLP: s_{t+1} = s_t + f(s_t, a_t, u_t)."""

    width: int = 64
    """Hidden width of the residual blocks (defaults sized for 512 x 10 rollouts in < 10 ms on 1-2 CPU cores)."""
    depth: int = 2
    """Number of residual blocks."""
    mlp_ratio: float = 2.0
    """Inner width of each block's MLP, as a multiple of `width`."""
    conditioning: str = "adaln"
    """How the action enters: 'adaln' (scale/shift/gate of every block) or 'concat' (with s_t at the input)."""
    cond_dim: int = 16
    """Width of the action (+ latent variable) embedding."""
    z_dim: int = 0
    """Size of the latent variable u for what the action does not determine (0: deterministic predictor).
    Inferred from (s_t, s_{t+1}) in training with an information penalty; zero when planning."""

    def __post_init__(self) -> None:
        _positive_int(self, "width", "depth", "cond_dim")
        _require(isinstance(self.mlp_ratio, (int, float)) and self.mlp_ratio > 0, self, "mlp_ratio", "> 0")
        _require(self.conditioning in ("adaln", "concat"), self, "conditioning", "'adaln' or 'concat'")
        _require(isinstance(self.z_dim, int) and self.z_dim >= 0, self, "z_dim", "an int >= 0")

    @property
    def hidden(self) -> int:
        """Inner width of a block's MLP."""
        return max(1, int(round(self.width * self.mlp_ratio)))


PROBE_NAMES = ("ee_pos", "joint_pos", "cube_pos")


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """A readout trained on frozen latents (diagnostics and pose goals; never used for safety)."""

    name: str = "ee_pos"
    """Recorded array it predicts: 'ee_pos', 'joint_pos' or 'cube_pos' (Panda datasets that record the cube)."""
    out_dim: int = 3
    """Size of the predicted vector."""
    kind: str = "mlp"
    """'linear' (ridge regression) or 'mlp' (one hidden layer)."""
    hidden: int = 128
    """Hidden width of the MLP probe."""

    def __post_init__(self) -> None:
        _require(self.name in PROBE_NAMES, self, "name", f"one of {PROBE_NAMES}")
        _require(self.kind in ("linear", "mlp"), self, "kind", "'linear' or 'mlp'")
        _positive_int(self, "out_dim", "hidden")


@dataclasses.dataclass(frozen=True)
class WorldModelConfig:
    """Encoder + predictor (+ probes and critic) of one world model; stored in every checkpoint."""

    latent_dim: int = 64
    """Size D of the single-token latent state."""
    action_dim: int = 8
    """Size A of one action."""
    latent_norm: bool = False
    """LayerNorm (no affine) on encoder and predictor outputs, so latents stay on one sphere (the CLI turns it
    on for --objective ema unless told otherwise)."""
    encoder: EncoderConfig = EncoderConfig()
    """Encoder settings."""
    predictor: PredictorConfig = PredictorConfig()
    """Predictor settings."""
    probes: tuple[ProbeConfig, ...] = ()
    """Readouts fitted after training (filled in by training)."""
    critic_hidden: int = 0
    """Hidden width of the trainable critic C(s) (0: no critic)."""

    def __post_init__(self) -> None:
        _positive_int(self, "latent_dim", "action_dim")
        _require(isinstance(self.critic_hidden, int) and self.critic_hidden >= 0, self, "critic_hidden", "an int >= 0")
        names = [p.name for p in self.probes]
        _require(len(names) == len(set(names)), self, "probes", "probes with distinct names")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run of the JEPA world model (what is stored beside the weights)."""

    data: str = ""
    """Dataset folder written by `jepa-mpc collect`."""
    out: str = ""
    """Run folder for checkpoints, TensorBoard logs and the final model."""
    objective: str = "vicreg"
    """Anti-collapse: 'vicreg' (variance/covariance on latent + expander) or 'ema' (EMA target, stop-grad)."""
    seed: int = 0
    """Seed of initialisation, data order and the train/validation split."""
    steps: int = 10_000
    """Optimizer steps in total."""
    batch_size: int = 64
    """Windows per step (per process under torchrun)."""
    rollout_steps: int = 3
    """Actions per training window: teacher-forced one-step loss on each, plus an open-loop rollout over all."""
    lr: float = 1e-3
    """Peak learning rate (AdamW), after linear warm-up, then cosine decay to 10%."""
    warmup_steps: int = 200
    """Linear learning-rate warm-up steps."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Global gradient-norm clip (0: off)."""
    teacher_forcing_weight: float = 1.0
    """Weight of the one-step prediction loss from encoded states."""
    rollout_weight: float = 1.0
    """Weight of the multi-step open-loop prediction loss."""
    var_weight: float = 1.0
    """VICReg variance hinge weight (std >= 1 per dimension, on the latent and on the expander)."""
    cov_weight: float = 0.04
    """VICReg covariance weight (squared off-diagonal covariance of the expander output)."""
    latent_cov_weight: float = 0.04
    """VICReg covariance weight on the latent itself. Without it the latent kept ~4 effective dimensions on
    reach_v0 and the EE probe error doubled (the expander decorrelates a low-rank input by itself)."""
    expander_dim: int = 512
    """Output size of the VICReg expander (discarded after training)."""
    ema_momentum: float = 0.99
    """Starting EMA momentum of the target encoder; rises to 1 on a cosine schedule."""
    z_weight: float = 0.1
    """Weight of the information penalty on the predictor's latent variable (when z_dim > 0)."""
    z_penalty: str = "kl"
    """Information penalty of the latent variable: 'kl' (to N(0, I)) or 'l2'."""
    aux_state: tuple[str, ...] = ()
    """Recorded arrays (of PROBE_NAMES) that a training-only head must read from every latent, encoded and predicted.
    Privileged labels, used in training only. With ('cube_pos', 'ee_pos') the latent must locate the hand and the
    cube to within a centimetre or so and the predictor must carry both through its rollouts, which contact
    needs and which the prediction loss alone under-weights (the cube is a few pixels)."""
    aux_state_weight: float = 1.0
    """Weight of that head's error (mean squared, each array in units of its own RMS per-dimension std)."""
    val_fraction: float = 0.1
    """Share of episodes held out for validation and probe evaluation."""
    eval_horizon: int = 10
    """Longest open-loop horizon of the validation rollout error."""
    eval_every: int = 500
    """Steps between validation passes."""
    log_every: int = 50
    """Steps between logged scalars and collapse checks."""
    checkpoint_every: int = 500
    """Steps between resumable checkpoints."""
    collapse_threshold: float = 0.01
    """Training stops with CollapseError when the mean per-dimension latent std stays below this ..."""
    collapse_patience: int = 5
    """... for this many consecutive checks."""
    probe_kind: str = "mlp"
    """Probes fitted on frozen latents after training: 'linear' or 'mlp'."""
    device: str = "auto"
    """'auto', 'cpu', 'cuda' or 'cuda:N'."""
    bf16: bool = True
    """bfloat16 autocast (GPU only; CPU always trains in float32)."""
    workers: int = 0
    """DataLoader worker processes."""
    progress: bool = True
    """Show a tqdm progress bar."""

    def __post_init__(self) -> None:
        _require(self.objective in ("vicreg", "ema"), self, "objective", "'vicreg' or 'ema'")
        _require(self.z_penalty in ("kl", "l2"), self, "z_penalty", "'kl' or 'l2'")
        _require(self.probe_kind in ("linear", "mlp"), self, "probe_kind", "'linear' or 'mlp'")
        _require(isinstance(self.aux_state, tuple) and set(self.aux_state) <= set(PROBE_NAMES)
                 and len(set(self.aux_state)) == len(self.aux_state), self, "aux_state",
                 f"distinct names of {PROBE_NAMES}")
        _require(isinstance(self.seed, int) and self.seed >= 0, self, "seed", "an int >= 0")
        _positive_int(self, "steps", "batch_size", "rollout_steps", "expander_dim", "eval_horizon", "eval_every",
                      "log_every", "checkpoint_every", "collapse_patience")
        _require(isinstance(self.warmup_steps, int) and self.warmup_steps >= 0, self, "warmup_steps", "an int >= 0")
        _require(isinstance(self.workers, int) and self.workers >= 0, self, "workers", "an int >= 0")
        _nonneg_float(self, "lr", "weight_decay", "grad_clip", "teacher_forcing_weight", "rollout_weight",
                      "var_weight", "cov_weight", "latent_cov_weight", "z_weight", "aux_state_weight",
                      "collapse_threshold")
        _require(self.lr > 0, self, "lr", "> 0")
        _require(0.0 <= self.ema_momentum < 1.0, self, "ema_momentum", "in [0, 1)")
        _require(0.0 < self.val_fraction < 1.0, self, "val_fraction", "in (0, 1)")
        dev = self.device
        _require(dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit()), self, "device",
                 "'auto', 'cpu', 'cuda' or 'cuda:N'")


# ----------------------------------------------------------------------------------------------- dict / JSON form

def config_to_dict(cfg: Any) -> dict:
    """Nested plain dict (tuples become lists), ready for JSON."""
    return dataclasses.asdict(cfg)


def config_from_dict(cls: type[C], data: dict, where: str = "") -> C:
    """Rebuild `cls` from `config_to_dict` output; unknown or missing fields raise ValueError naming them."""
    where = where or cls.__name__
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown, missing = sorted(set(data) - names), sorted(names - set(data))
    if unknown or missing:
        raise ValueError(f"{where}: config schema mismatch (unknown fields {unknown}, missing fields {missing})")
    kwargs = {}
    for name in names:
        kind, value = hints[name], data[name]
        if dataclasses.is_dataclass(kind):
            value = config_from_dict(kind, value, f"{where}.{name}")
        elif typing.get_origin(kind) is tuple:
            (item,) = {a for a in typing.get_args(kind) if a is not Ellipsis}
            items = list(value)
            value = tuple(config_from_dict(item, v, f"{where}.{name}[{i}]") if dataclasses.is_dataclass(item) else v
                          for i, v in enumerate(items))
        kwargs[name] = value
    return cls(**kwargs)


# ------------------------------------------------------------------------------------------- command-line form

@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of dataclass `cls` (first paragraph, one line)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body[:-1], body[1:], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr) \
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str = "",
                         skip: tuple[str, ...] = ()) -> None:
    """Add `--{prefix}{field}` for each scalar/tuple field of `cls`, default None (so "not given" is visible)."""
    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if f.name in skip or dataclasses.is_dataclass(kind):
            continue
        flag = "--" + (prefix + f.name).replace("_", "-")
        help_text = f"{docs.get(f.name, '')} (default: {getattr(defaults, f.name)!r})".replace("%", "%%")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif typing.get_origin(kind) is tuple:
            parser.add_argument(flag, nargs="+", type=typing.get_args(kind)[0], default=None, help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=None, help=help_text)


def given_arguments(args: argparse.Namespace, cls: type, prefix: str = "") -> dict[str, Any]:
    """Fields of `cls` that were given on the command line (added by `add_config_arguments`)."""
    given = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, prefix + f.name, None)
        if value is not None:
            given[f.name] = tuple(value) if isinstance(value, list) else value
    return given
