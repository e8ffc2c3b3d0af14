"""Green CNN's search side, in the order of the pipeline.

    hardware/   measuring this device: timing, the latency/energy lookup table, the cost model
    evolution/  the multi-objective search: objectives, evaluation with inherited weights, NSGA-II/III
    deploy/     the winners as standalone models: extraction, export, fine-tuning, baselines
    tuning/     hyperparameter search of the winners' training
    ranking/    standalone ground truth and the fidelity of the supernet's ranking
    pipeline/   every stage in one run folder, the summary and the report
    commands/   the console scripts, one thin leaf each
"""
