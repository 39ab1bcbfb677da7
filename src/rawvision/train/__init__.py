"""``rawvision train``: transfer learning from EfficientNet-Lite0 on a user's image folder, export, add."""
