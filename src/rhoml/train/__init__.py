"""The shared training loop (:mod:`rhoml.train.loop`), strict configs, metrics and splits."""
