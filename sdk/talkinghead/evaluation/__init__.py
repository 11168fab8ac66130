"""Evaluations of the generated motion against real clips (`talkinghead eval motion`)."""
