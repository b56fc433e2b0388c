"""Behaviour every implementation of an interface must show, written once and subclassed per
implementation (as FastStream's tests/brokers/base do): the base classes here are not collected."""
