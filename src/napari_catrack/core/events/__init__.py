"""Behaviour event streams lined up with the imaging (CalTrig-style): clocks, alignment of event
timestamps to imaging frames, the behaviour video in sync, and event-triggered averages with a
circular-shift null. One idea per module: `params`, `clock`, `align`, `eta`, `sync`, `session`.
"""
