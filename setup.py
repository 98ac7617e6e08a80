"""Kept for `python setup.py develop` habits and older tooling; the metadata lives in pyproject.toml."""

from setuptools import setup

setup()
