"""What a stylegan run refuses before training: keys that do not fit, and keys it would ignore.

`StyleGANDomain.check` calls these when a run or resume is resolved (and `ganhub data` resolves
its config the same way); a saved run still opens to sample, evaluate and export. A key that
another one switches off (path length's options with `objective.pl_weight=0`) is refused when the
user gave it (`ganhub.config.given`) away from its default and from the preset's value, not
when `defaults_for` derived it. A resumed (or adapted) run's saved config holds every key, and
only those typed again are known as the user's: there, "given" is told by the value alone.
Imports no torch.
"""

from __future__ import annotations

from ganhub_stylegan.config import PRESETS, StyleGANConfig, resolutions

from ganhub.config.given import chosen_by_user
from ganhub.errors import ConfigError


def training_problems(config: StyleGANConfig) -> list[str]:
    """What a run or resume refuses before training (a saved run still loads for sampling,
    evaluation and export: its weights do not depend on these keys)."""
    m, t = config.model, config.trainer
    problems = []
    n = resolutions(m.image_size)
    if m.fp16_res > n:  # more float16 resolutions than the networks have: a mistake
        problems.append(
            f"model.fp16_res={m.fp16_res}: model.image_size={m.image_size} has {n} "
            f"resolutions (4 to {m.image_size} px); choose 0..{n} (0: float32)"
        )
    # minibatch stddev's groups of min(group, batch) must divide the batch D trains on
    # (StyleGAN2-ADA's rule; a smaller group changes the feature, groups of one make it
    # constant); other calls take the largest group that fits (`minibatch_stddev`)
    group = m.mbstd_group
    if t.batch_size % t.grad_accum:
        return problems  # refused by its own check (trainer.grad_accum must divide the batch)
    micro = t.batch_size // t.grad_accum
    if micro % min(group, micro):
        given = f"trainer.batch_size={t.batch_size}"
        if t.grad_accum > 1:
            given += f" with trainer.grad_accum={t.grad_accum} ({micro} per micro-batch)"
        lower = (micro - micro % group) * t.grad_accum  # micro > group here: lower > 0
        problems.append(
            f"{given}: minibatch stddev splits D's batch into groups of model.mbstd_group="
            f"{group}, which must divide it (as in StyleGAN2-ADA); choose trainer.batch_size="
            f"{lower} or {lower + group * t.grad_accum}, or {_groups(micro, group)}"
        )
    return problems


def check(config: StyleGANConfig) -> list[str]:
    """Problems found when the config is resolved: `data.path` must name a folder or zip
    holding images, or a shard. Listing only, no file is opened, so this stays instant on
    large folders; each file's header is read when the run builds its data
    (`data.refuse_unusable`, still before the first step), and `ganhub data check` (which
    resolves the config too) decodes every file to report all problems."""
    if config.data.source != "folder":
        if config.data.path is not None:
            return [
                f"data.path is only read with data=folder, and data={config.data.source} was "
                "given; drop one of them"
            ]
        return []
    if config.data.path is None:
        raise ConfigError("data=folder needs data.path=DIR_OR_ZIP (or a .safetensors shard)")
    from ganhub.data.shards import check_image_shard, is_shard

    if is_shard(config.data.path):
        size, channels = config.model.image_size, config.data.channels
        return check_image_shard(config.data.path, size, channels, resize=config.data.resize)
    from ganhub_stylegan.data import list_files

    from ganhub.data.images import IMAGE_SUFFIXES

    if not list_files(config.data.path):
        return [f"data.path='{config.data.path}': no images ({', '.join(IMAGE_SUFFIXES)})"]
    return []


def _groups(micro: int, group: int) -> str:
    """The minibatch-stddev groups that fit a (micro-)batch of `micro`: its divisors below
    `group`, and `micro` or more (one group of the whole batch)."""
    divisors = [d for d in range(1, group) if micro % d == 0]  # 1 always divides
    if len(divisors) == 1:
        return f"model.mbstd_group=1 (which makes the feature a constant) or {micro} or more"
    listed = f"{', '.join(map(str, divisors[:-1]))} or {divisors[-1]}"
    return (
        f"model.mbstd_group={listed} (divisors of {micro}; 1 makes the feature a constant) "
        f"or {micro} or more"
    )


# path length's options: read only when its phase runs (objective.pl_weight > 0)
PATH_LENGTH_KEYS = ("pl_interval", "pl_decay", "pl_batch_shrink", "lazy_correction")


def _given(config: StyleGANConfig, section: str, key: str) -> str | None:
    """`section.key`'s value as typed when the user chose it (`chosen_by_user`: away from the
    class default and the preset's value), else None."""
    if not chosen_by_user(config, f"{section}.{key}", PRESETS.get(config.preset or "", {})):
        return None
    value = getattr(getattr(config, section), key)
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def ignored_options(config: StyleGANConfig) -> list[str]:
    """One line per key set away from its default that this run would not read, saying what
    would make it apply: path length's options without path length, channels_last without
    float16 blocks, data.channels with the embedded data."""
    out = []
    obj, m, data = config.objective, config.model, config.data
    if obj.pl_weight <= 0:
        for key in PATH_LENGTH_KEYS:
            if (value := _given(config, "objective", key)) is not None:
                out.append(
                    f"objective.{key}={value} is only read with path length on "
                    "(objective.pl_weight > 0; StyleGAN2: 2), and objective.pl_weight is 0; "
                    "set objective.pl_weight or leave it out"
                )
    if m.fp16_res == 0 and (value := _given(config, "model", "fp16_channels_last")):
        out.append(
            f"model.fp16_channels_last={value} is only read with float16 blocks "
            f"(model.fp16_res=1..{resolutions(m.image_size)}, on CUDA), and model.fp16_res is "
            "0; set model.fp16_res or leave it out"
        )
    if data.source != "folder" and (value := _given(config, "data", "channels")):
        held = "1 channel, 3 with data.colour=true" if data.source == "shapes" else "1 channel"
        out.append(
            f"data.channels={value} is only read with your own images (data.path=DIR), and "
            f"data={data.source} was given (its images have {held}); leave it out"
        )
    return out
