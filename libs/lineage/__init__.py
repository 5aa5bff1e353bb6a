"""Lineage, stacks of variations, the change strip and keepers: pure rules, no I/O.

`facts` is the contract: what ingest reads out of a file for lineage (carried on `asset.imported`),
and what the rules return. Clustering stores the facts and edges and calls these rules.
"""
