"""Runs the whole system on one machine on embedded defaults; also the process helpers the tests reuse."""
