"""pytest puts this folder on ``sys.path`` (it holds a conftest.py and no
``__init__.py``), so tests in the subfolders import the shared helper modules beside
it (``import ci_models``) as the tests here do."""
