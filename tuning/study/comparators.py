"""Which arm each ablation arm is compared with: the arm one term away (the study file's `compare:` block).

An ablation verdict is only about the term it removes if the two arms differ in nothing else. The paper's
rows (Zhu et al. 2017, Table 4) differ in several weights at once (GAN alone also drops the identity
term that the full model keeps), so a study names each arm's comparator explicitly:

    compare:
      no_identity_lsgan: full_lsgan            # removes loss.lambda_id
      gan_alone_lsgan: no_identity_lsgan       # removes loss.lambda_cyc
      full_vanilla: full_lsgan                 # changes loss.gan_mode

and the study is refused (exit 2) when a comparator differs from its arm in more than one engine key,
compared on the trainer's effective config (keys it never reads do not count) with every other searched
factor held equal. `--dry-run` prints each arm's comparator; the report judges each arm against it, paired by
seed, all arms one family (tuning.results.objective.holm). A study without `compare:` falls back to the older rule
(dashboards/ablation.py: the `full*` arm of the same adversarial loss).
"""
from __future__ import annotations

from pathlib import Path

from cyclegan.configtools import UserError, flatten, to_dict


def arms_key(search: dict) -> str | None:
    """The searched key whose values are named arms (None if the study has none)."""
    return next((name for name, dist in search.items() if dist.arms is not None), None)


def differing_keys(study, arm: str, other: str) -> list[str]:
    """Engine keys set differently in two arms of `study` (other searched factors at their first value),
    leaving out keys neither trainer reads (`Config.effective`: gan_mode without an adversarial term)."""
    key = arms_key(study.search)
    rest = {name: dist.choices[0] for name, dist in study.search.items() if name != key and dist.choices}
    configs = [study.engine_config({**rest, key: name}) for name in (arm, other)]
    (a, b), (read_a, read_b) = ([flatten(to_dict(c)) for c in configs], [c.effective() for c in configs])

    def read(k: str) -> bool:  # lambda_cyc is always read: effective() resolves it into lambda_cyc_a / _b
        return k == "loss.lambda_cyc" or read_a.get(k) is not None or read_b.get(k) is not None
    return sorted(k for k in a if a[k] != b.get(k) and read(k) and k != "train.out_dir")


def parse_compare(block, study, path: Path) -> dict[str, str]:
    """{arm: comparator arm}, checked: both are arms of the study and they differ in exactly one key."""
    if block is None:
        return {}
    key = arms_key(study.search)
    if key is None:
        raise UserError(f"{path.name}: compare: needs named arms under search (e.g. arm: {{grid: {{full: {{}}, ...}}}})")
    if not isinstance(block, dict) or not all(isinstance(v, str) for v in block.values()):
        raise UserError(f"{path.name}: compare must map each arm to the one arm it is compared with, e.g. "
                        "compare: {no_identity: full}")
    arms = study.search[key].choices
    out = {}
    for arm, other in block.items():
        arm = str(arm)
        for name in (arm, other):
            if name not in arms:
                raise UserError(f"{path.name}: compare.{arm}: {name!r} is not an arm of search.{key} "
                                f"(arms: {', '.join(arms)})")
        changed = differing_keys(study, arm, other)
        if len(changed) != 1:
            what = ", ".join(changed) if changed else "nothing: they train the same model"
            raise UserError(f"{path.name}: compare.{arm}: {arm} and {other} differ in {what}; an arm is compared "
                            "with the arm one term away (exactly one key different), so its verdict is about that term")
        out[arm] = other
    return out


def comparator_text(study, arm: str) -> str:
    """'vs no_identity_lsgan (loss.lambda_cyc)' for `--dry-run`; '' for an arm without a comparator."""
    other = study.compare.get(arm)
    return f"vs {other} ({differing_keys(study, arm, other)[0]})" if other else ""
