"""Stands for an attacker's choice of module: importing it is the attack (it sets a flag, nothing worse)."""

IMPORTED = True
