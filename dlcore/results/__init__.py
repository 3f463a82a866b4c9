"""Steps 5-7 of the workshop: what a trained run gives. Evaluation, inference, explanations
(filters, feature maps, Grad-CAM), exports (script, TensorFlow Lite), and the summaries and
tables of runs for the pages."""
