"""Build hook only (metadata lives in pyproject.toml): the wheel carries the lessons.

``build_py`` copies ``notebooks/*.ipynb`` into ``ucs_lite/lessons_src/`` of the build, so an installed wheel can
run them (``ucs-lite notebooks`` finds them there when no checkout is around,
:func:`ucs_lite.notebooks.runner.default_notebook_dir`). One copy in the repository, no symlink; MANIFEST.in puts
the notebooks in the sdist so a wheel built from it has them too. An editable install reads the checkout's
``notebooks/`` directly and copies nothing.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithLessons(build_py):
    """``build_py`` plus the notebooks, copied to ``<build_lib>/ucs_lite/lessons_src/``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        notebooks = sorted((HERE / "notebooks").glob("*.ipynb"))
        if not notebooks:
            raise SystemExit("setup.py: notebooks/*.ipynb not found; build from a checkout or from the sdist")
        target = Path(self.build_lib) / "ucs_lite" / "lessons_src"
        target.mkdir(parents=True, exist_ok=True)
        for nb in notebooks:
            shutil.copy2(nb, target / nb.name)


setup(cmdclass={"build_py": BuildPyWithLessons})
