"""Step 3 of the workshop: the network. The Keras model of a ModelSpec and how it is compiled,
the layer table (pure Python, checked against Keras), augmentation, learning-rate schedules and
the ImageNet backbones.

Imports from ``dlcore.data`` at most; never from ``dlcore.train`` or ``dlcore.results``."""
