"""The shared command-line behaviour (SPEC §6): exit codes and one line for the user's own stop."""
from cyclegan.cli import run_main


def library_that_fails_while_cleaning_up_after_ctrl_c(args):
    try:
        raise KeyboardInterrupt  # the user's Ctrl+C, inside a library call (a database migration)
    except KeyboardInterrupt:
        raise RuntimeError("This Session's transaction has been rolled back")  # its clean-up fails in turn


def test_an_error_raised_while_handling_ctrl_c_is_an_interrupt_not_a_crash(capsys):
    assert run_main(library_that_fails_while_cleaning_up_after_ctrl_c, argv=[]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "interrupted" and "Traceback" not in err


def test_an_error_of_its_own_is_still_a_crash_with_its_traceback(capsys):
    def broken(args):
        raise RuntimeError("a bug")
    assert run_main(broken, argv=[]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "error: RuntimeError: a bug" in err
