"""Curation as a person sees it (issue 14): lineage, stacks of variations, the change strip and keepers.
Clustering owns all of it; the gateway reads its views and forwards the person's edits."""
