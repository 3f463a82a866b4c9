"""Steps 1-2 of the workshop: datasets. Decoding and preparing images (one path for all), the
digit-photo pipeline, the catalogue of built-ins and downloads, imports (folder, ZIP, npz, a
folder on the server) and prepared datasets on disk (one door: load, list, access, delete).

Imports nothing from ``dlcore.model``, ``dlcore.train`` or ``dlcore.results``."""
