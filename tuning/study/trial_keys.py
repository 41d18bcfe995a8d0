"""The keys the platform reserves in a trial's config, beside the searched engine keys. One place: the
searcher, the records, the tracker and the dashboards all read them from here."""

REPEAT_INDEX = "__trial_index__"    # set by Ray's Repeater: which seed of a repeated configuration (an offset)
TRIAL_KEY = "__trial_key__"         # the platform's name of the trial (t0007)
OPTUNA_NUMBER = "__optuna_number__"  # the Optuna trial it reports to (search trials)
STAGE = "__stage__"                 # "confirm" for a confirmation trial
ROUND = "__confirm_round__"         # which confirmation round
RACE = "__race__"                   # the race's design, "candidates/first/step/budget"
RESERVED = (REPEAT_INDEX, TRIAL_KEY, OPTUNA_NUMBER, STAGE, ROUND, RACE)
