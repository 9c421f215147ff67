"""A stand-in framework for tests/test_zygote.py: numpy plays the framework, its experiments hang or report."""
