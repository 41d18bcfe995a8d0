"""The checks of a study's storage and stored history that a launch makes and `--dry-run` repeats, read-only.
No MLflow or Ray here: the dry run imports this without loading them."""
from __future__ import annotations

from cyclegan.configtools import UserError
from tuning.redact import redact
from tuning.state.history import check_continuation, choose_history
from tuning.state.storage import not_yet_created, optuna_storage, stored_study
from tuning.state.trial_records import TrialRecords, check_config
from tuning.study.study import Study


def check_storage(study: Study) -> None:
    """Open the Optuna storage before Ray starts: a damaged database is one line, not an SQLAlchemy traceback."""
    if not_yet_created(study.storage_url):
        return
    try:
        optuna_storage(study.storage_url).get_all_studies()
    except Exception as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise UserError(redact(f"study.storage={study.storage_url} cannot be opened ({reason}); restore it from a "
                               "backup, or move it away to start the study's history anew")) from None


def check_history(study: Study, existing, history: str = "") -> str:
    """The history a launch continues (`history`, or the one it would choose), checked: it was run with the same
    settings, and every stored trial is one this study could have proposed (issue 30). Read-only."""
    history = history or choose_history(study, existing)
    stored = stored_study(existing, history)
    check_continuation(study, stored)
    if stored is not None:  # every stored trial checked before the launch acts on any
        for record in TrialRecords(existing, history).all():
            check_config(study, record)
    return history


def check_stored_history(study: Study) -> None:
    """What `--dry-run` checks of the study's storage, as the launch would (UserError: exit 2, the same line):
    that it opens, and that its history accepts this launch's settings. Nothing is created."""
    check_storage(study)
    if not not_yet_created(study.storage_url):
        check_history(study, optuna_storage(study.storage_url))
