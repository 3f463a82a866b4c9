"""The Inside page: filters, feature maps labelled as the layer table, the heat map and the code
behind a run, for the tiny conv run; a saliency map for a network without convolutions; class
names people chose stay plain text."""

from __future__ import annotations

import dataclasses
import io
import os
import re

import numpy as np
from pages_support import OWNER, OWNER_ID, copy_of_tiny_run, open_page, texts, tiny_experiment
from PIL import Image

from dlcore.model.layer_table import layer_table
from dlcore.spec import DenseLayer, ModelSpec
from dlcore.text import escape_markdown as md
from dlcore.train import jobs, worker
from dlcore.train.runs import (
    read_dataset_info,
    read_spec,
    record_worker,
    run_path,
    write_dataset_info,
)

HOSTILE = "**bold** [link](http://x.test) :red[red] <b>b</b> $x$"


def _shape(shape) -> str:
    return " x ".join(str(size) for size in shape)


def _images(at) -> int:
    return len(at.image)


def test_opens_cold_and_asks_for_a_trained_model():
    at = open_page("inside")
    assert not at.exception
    assert "No finished run yet" in at.info[0].value


def test_shows_filters_feature_maps_and_heat_map(run_id):
    at = open_page("inside", attendee=OWNER)
    assert not at.exception and not at.error
    assert run_id in at.selectbox[0].value
    shown = texts(at)
    spec, info = read_spec(run_id), read_dataset_info(run_id)
    rows = layer_table(spec.model, tuple(info["image_shape"]), len(info["classes"]))
    maps = [row for row in rows if row.name.startswith(("conv", "pool"))]
    assert maps, "the tiny run has a conv block"
    for row in maps:  # each layer's maps labelled with the layer table's name and shape
        assert f"**{md(row.name)}** · {_shape(row.output_shape)}" in shown
    flow = " → ".join(f"{md(row.name)} {_shape(row.output_shape)}" for row in maps)
    assert flow in shown  # the shapes read as one chain: 8×8×4 → 4×4×4
    assert "Where it looked (Grad-CAM)" in [c for image in at.image for c in image.captions]
    assert "Where the network looked" in shown
    # the answer with one decimal, as the bar beside it and the Classify page give it
    assert re.search(r"The network answers \*\*[^*]+\*\* · \d+\.\d%", shown)
    # the picture, its overlay, the filters, one mosaic per conv and pool layer, filters over time
    assert _images(at) >= 3 + len(maps)
    assert len(at.get("vega_lite_chart")) >= 1  # the probabilities
    assert at.selectbox(key="inside_filters_layer").value == "conv1_1"


def test_another_validation_image_and_its_true_class(run_id):
    from dlcore.data.catalogue import load_dataset

    at = open_page("inside", attendee=OWNER)
    at.slider[0].set_value(7).run()
    assert not at.exception and not at.error
    true = read_dataset_info(run_id)["classes"][int(load_dataset("digits").y_val[6])]
    captions = [c for image in at.image for c in image.captions]
    assert f"validation image 7 · true class {md(true)}" in captions


def test_an_uploaded_image_is_prepared_like_the_training_images(run_id):
    at = open_page("inside", attendee=OWNER)
    at.radio[0].set_value("Your own image").run()
    assert "Upload an image" in texts(at)
    paper = np.full((64, 64), 255, np.uint8)
    paper[12:-12, 29:35] = 20  # a dark stroke on white paper: a handwritten 1
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, "PNG")
    at.file_uploader[0].set_value(("one.png", buffer.getvalue(), "image/png")).run()
    assert not at.exception and not at.error
    assert at.checkbox[0].value  # digits: digit-photo mode is on by default
    assert "one\\.png" in [c for image in at.image for c in image.captions]
    assert "Where the network looked" in texts(at)


def test_filters_over_time_slider_runs_from_random_noise(run_id):
    at = open_page("inside", attendee=OWNER)
    sliders = [s for s in at.select_slider if s.label == "After epoch"]
    assert len(sliders) == 1
    assert sliders[0].options[0] == "0 · random noise"
    sliders[0].set_value(0).run()
    assert not at.exception and not at.error


def test_a_run_trained_before_filters_were_saved_says_what_to_do(tmp_path):
    from dlcore.train.runs import FILTERS

    path = copy_of_tiny_run(tmp_path)
    (path / FILTERS).unlink()
    at = open_page("inside", attendee=OWNER)
    assert not at.exception and not at.error
    assert "saved no filters" in texts(at) and "Train a network with a conv block" in texts(at)
    assert not [s for s in at.select_slider if s.label == "After epoch"]
    assert at.selectbox(key="inside_filters_layer").value == "conv1_1"  # its filters still show


def test_code_files_are_made_on_a_click(run_id):
    at = open_page("inside", attendee=OWNER)
    assert not at.get("download_button") or len(at.get("download_button")) == 2  # .keras, summary
    code = [c.value for c in at.code]
    assert any("conv1_1" in text and "Total params" in text for text in code)  # the summary
    at.button(key="script_make").click().run()
    assert not at.exception and not at.error
    labels = [b.proto.label for b in at.get("download_button")]
    assert any(label.startswith(md(f"train_{run_id}.py") + " · ") for label in labels), labels
    assert any(label.startswith(md(f"{run_id}_data.npz") + " · ") for label in labels)


def _mlp_run() -> str:
    experiment = tiny_experiment()
    model = ModelSpec(preset="mlp", dense_layers=(DenseLayer(16),))
    run_id = jobs.create_run(dataclasses.replace(experiment, model=model))
    record_worker(run_path(run_id), os.getpid())
    assert worker.main([str(run_path(run_id))]) == 0
    return run_id


def test_a_network_without_convolutions_gets_a_saliency_map():
    _mlp_run()
    at = open_page("inside", attendee=OWNER)
    assert not at.exception and not at.error
    assert "Where it looked (saliency map)" in [c for image in at.image for c in image.captions]
    assert "no convolution layer" in texts(at)
    assert "dense1" in texts(at) or at.get("vega_lite_chart")


def test_class_names_people_chose_are_plain_text(tmp_path):
    path = copy_of_tiny_run(tmp_path)
    info = read_dataset_info(path.name)
    info["classes"] = [f"{HOSTILE} {index}" for index in range(len(info["classes"]))]
    write_dataset_info(path, info)
    at = open_page("inside", attendee=OWNER)
    assert not at.exception and not at.error
    shown = texts(at) + " ".join(c for image in at.image for c in image.captions)
    assert md(HOSTILE) in shown
    assert HOSTILE not in shown and OWNER_ID not in shown


def test_tflite_files_are_made_on_a_click_with_their_sizes(run_id):
    from dlcore.backend import tflite_unavailable

    at = open_page("inside", attendee=OWNER)
    assert not [b for b in at.get("download_button") if ".tflite" in b.proto.label]
    if tflite_unavailable():  # KERAS_BACKEND=jax or torch: the page says how to get one
        assert "Export on a machine with TensorFlow installed" in texts(at)
        return
    at.button(key="tflite_make").click().run(timeout=240)
    assert not at.exception and not at.error
    labels = [b.proto.label for b in at.get("download_button") if ".tflite" in b.proto.label]
    assert [label.split(" · ")[0] for label in labels] == [
        md(f"{run_id}.tflite"),
        md(f"{run_id}_int8.tflite"),
    ]
    assert all(label.split(" · ")[1].endswith(("KB", "MB", "bytes")) for label in labels)
