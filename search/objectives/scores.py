"""The score objectives: what evaluating a candidate on validation images gives (:mod:`supernet.metrics`).

``recall:<class>`` (one class's recall) is not declared here: it exists for every class of the data and is
read from the ``recall`` field's per-class figures (:func:`search.evolution.objectives.lookup`).
"""
from search.objectives import score

score("acc", label="inherited val accuracy")
score("recall", label="inherited macro recall")
score("recall_min", label="worst-class recall")
