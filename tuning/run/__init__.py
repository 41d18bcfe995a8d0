"""The launcher process: check -> acquire -> run -> finish, the stages, the trainable, interrupts, a private
Ray and its reaper, what a launch prints."""
