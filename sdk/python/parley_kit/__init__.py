"""The extension author's kit: test harness (``parley_kit.testing``), pytest plugin
(``parley_kit.pytest_plugin``) and scaffold (``python -m parley_kit.scaffold``)."""
