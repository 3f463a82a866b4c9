"""The app's pages in the order of the workshop: one title for each, used by the sidebar's
navigation (app.py), the Start page's list of steps and, word for word, each page's heading.

Titles are plain words, never numbers: the order of the list is the order of the steps, and an
optional page (Inside) or one outside the sequence (Experiments, Instructor) fits the pattern
as well as the first step does.
"""

from __future__ import annotations

from typing import NamedTuple


class PageInfo(NamedTuple):
    path: str
    title: str
    icon: str
    blurb: str  # one line for the Start page ("" for pages that are not steps)


START = PageInfo("pages/start.py", "Start", ":material/home:", "")
STEPS = (
    PageInfo("pages/data.py", "Data", ":material/dataset:",
             "Pick a ready-made image set or bring your own folders of photos."),
    PageInfo("pages/explore.py", "Explore", ":material/image_search:",
             "Look at the images, count the classes, spot problems before training."),
    PageInfo("pages/model.py", "Model", ":material/account_tree:",
             "Choose a network (LeNet, a small CNN...) or design your own, layer by layer."),
    PageInfo("pages/train.py", "Train", ":material/model_training:",
             "Train it and watch the loss fall and the accuracy rise, epoch by epoch."),
    PageInfo("pages/evaluate.py", "Evaluate", ":material/analytics:",
             "See what it gets right and wrong: accuracy, confusion matrix, mistakes."),
    PageInfo("pages/inside.py", "Inside", ":material/visibility:",
             "Look inside the trained network: its filters, its feature maps, where it looked."),
    PageInfo("pages/classify.py", "Classify", ":material/center_focus_strong:",
             "Give it new images (a photo of your own handwriting, a cat) and read its guess."),
    PageInfo("pages/experiments.py", "Experiments", ":material/table_chart:",
             "Compare your runs side by side, like the table of trials in class."),
)  # fmt: skip
INSTRUCTOR = PageInfo("pages/instructor.py", "Instructor", ":material/school:", "")
ALL = (START, *STEPS, INSTRUCTOR)
